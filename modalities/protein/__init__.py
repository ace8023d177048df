"""The protein modality (being built)."""
