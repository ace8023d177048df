"""Modality adapters (toy2d, image, audio, pointcloud, protein), one package each."""
