"""What a point-cloud model card says about the data, the intended use and the limits (``card``)."""
from __future__ import annotations

from zoo.modality import CardFacts, MetricDoc

from .data import SHAPE_CLASSES, SOURCES

DATA = {
    "shapes": "`shapes`: procedural meshes made with trimesh, 8 classes ({classes}) with random proportions and a "
              "random turn about the vertical (z) axis, {train} training and {test} held-out shapes per class "
              "(other random draws), each surface-sampled with 4,096 area-weighted points.",
    "furniture": "`furniture`: the 820 real 3-D models (furniture, lights, vehicles, characters ...) of Debian's "
                 "`sweethome3d-furniture` (the Sweet Home 3D libraries BlendSwap-CC-0, BlendSwap-CC-BY, KatorLegaz, "
                 "Reallusion and Scopia), loaded from their zip files with trimesh, oriented and sized as Sweet Home "
                 "3D shows them, z up, surface-sampled with 4,096 area-weighted points; 82 models (every tenth of a "
                 "seeded shuffle) are held out.",
}
# what the released checkpoints (4 minutes on one H100 each) visibly get wrong (see their sample grids)
SEEN = {
    "shapes": "Sharp features are not learnt yet: boxes and pyramids come out with rounded edges and corners, "
              "so they look like cylinders and cones, and samples are noisier than the data (1-NNA-CD well above "
              "the real clouds' 50%).  Round classes (torus, capsule, ellipsoid, annulus, cone) are clean.",
    "furniture": "Samples are blobs with the rough proportions of furniture (boxes, slabs, tall cabinets) and few "
                 "recognisable parts; 738 training models and minutes of training are far too little for them.",
}
METRICS = {
    "1nna_cd": ("1-NNA-CD: leave-one-out 1-nearest-neighbour accuracy (Chamfer) on samples + references; "
                "50% is ideal, 100% means the two sets are told apart perfectly", False),
    "cov_cd": ("COV-CD: share of references that are the nearest (Chamfer) reference of some sample", True),
    "mmd_cd": ("MMD-CD: mean over references of the Chamfer distance to the nearest sample (squared distances, "
               "normalised units)", False),
    "jsd": ("JSD (base 2) between the clouds-per-voxel occupancy of samples and references on a 28^3 grid over "
            "[-1, 1]^3", False),
    "1nna_cd_within_class": ("class-conditional: 1-NNA-CD within each class (samples asked for that class against "
                             "its references), averaged over classes", False),
    "class_accuracy_nn": ("class-conditional: share of samples whose nearest held-out cloud (Chamfer) has the class "
                          "asked for (real_clouds column: training clouds of those classes)", True),
    "mmd_emd_approx": ("MMD-EMD, approximate: entropic (Sinkhorn) transport cost, mean matched distance, on "
                       "512-point subsamples of the first 100 clouds (`modalities.pointcloud.metrics.emd_sinkhorn`), "
                       "not the exact EMD", False),
    "cov_emd_approx": ("COV-EMD, approximate (as above)", True),
    "completion_chamfer": ("shape completion: Chamfer distance from the completed cloud (the +x half of a held-out "
                           "cloud held fixed, the rest generated) to the whole held-out cloud", False),
    "completion_chamfer_partial_alone": ("the same distance for the partial half alone (what completion must beat)",
                                         False),
    "completion_chamfer_other_same_class": ("the same distance for another held-out cloud of the same class (a "
                                            "plausible shape, not this one)", False),
    "completion_better_than_partial": ("share of completions closer to the whole cloud than their partial half", True),
    "completion_chamfer_se": ("standard error of completion_chamfer over the completed clouds", False),
    "completion_n": ("held-out clouds completed (the first of the split)", None),
    "samples_per_second": ("clouds sampled per second at the evaluation batch on the evaluation device", True),
    "nll_nats_per_point": ("negative log-likelihood of held-out clouds in nats per point, -log p(x) / N, by the "
                           "probability-flow ODE (`zoo.core.log_likelihood`, Hutchinson divergence) under the model's "
                           "prior, a class-conditional model given the true class without guidance; a few clouds at "
                           "loose tolerances (settings in the protocol line), so a rough figure: a CPU measures it in "
                           "minutes (`python benchmarks/pointcloud_likelihood.py NAME`)", False),
    "nll_nats_per_point_se": ("standard error of nll_nats_per_point over the clouds", False),
}
INDEXED = ("1nna_cd", "cov_cd", "mmd_cd", "jsd", "completion_chamfer")
# result keys that describe the protocol, with the phrase the card's protocol line gets ("": left out of the table)
PROTOCOL_SETTINGS = {
    "points": " of {points} points, normalisation `{normalization}`",
    "normalization": "",
    "likelihood_n": (" (likelihood: the first {likelihood_n} held-out clouds of {likelihood_points} points, "
                     "{likelihood_probes} Hutchinson probe(s), dopri5 rtol {likelihood_rtol:g} and atol "
                     "{likelihood_atol:g}, {likelihood_nfe} network evaluations, on {likelihood_device})"),
    **{key: "" for key in ("likelihood_points", "likelihood_method", "likelihood_probes", "likelihood_rtol",
                           "likelihood_atol", "likelihood_nfe", "likelihood_device")},
}


def card(config: dict) -> CardFacts:
    """The card facts of a point-cloud model with ``config`` (its config.yaml as a dict)."""
    data = config["data"]
    name = data["name"]
    conditional = bool(config.get("null_cond"))
    classes = config.get("class_names") or SHAPE_CLASSES
    described = DATA.get(name, name).format(classes=", ".join(SHAPE_CLASSES), train=data.get("train_per_class"),
                                            test=data.get("test_per_class"))
    normalised = (f"  Every cloud is normalised with `{data['normalization']}` and has {data['points']} points; the "
                  "generated clouds live in that frame.")
    if conditional:
        example = ("from modalities.pointcloud import crop\n"
                   f"x = model.sample(2, cond=\"{classes[4 % len(classes)]}\", guidance=2.0, points=512)   # (2, 512, 3); "
                   f"default {data['points']} points\n"
                   f"done = model.complete(crop(x[:1]), points=512, cond=\"{classes[4 % len(classes)]}\")  # keep the +x "
                   "half, regenerate the rest")
        command = (f"zoo sample {{name}} --class {classes[4 % len(classes)]} -o t.ply   # one cloud (.obj, .glb, .npy, "
                   ".png too); -n 4: t_000.ply ...; --points 512: a draft")
    else:
        example = ("from modalities.pointcloud import crop\n"
                   f"x = model.sample(2, points=512)                  # (2, 512, 3); default {data['points']} points\n"
                   "done = model.complete(crop(x[:1]), points=512)   # keep the +x half, regenerate the rest")
        command = "zoo sample {name} -o chairs.glb   # one cloud (.ply, .obj, .npy, .png too); --points 512: a draft"
    return CardFacts(
        sources=tuple(source for source in SOURCES if source.name == name),
        data_note=described + normalised + (f"  Classes: {', '.join(f'{i} {c}' for i, c in enumerate(classes))}."
                                            if conditional else ""),
        license="apache-2.0",
        tags=("point-cloud", "3d", "class-conditional" if conditional else "unconditional", "shape-completion"),
        pipeline_tag=None,
        task="point-cloud-generation",
        intended_use=("Research and teaching: generating and completing 3-D point clouds with a Point-E-style "
                      "transformer; comparing samplers, guidance and evaluation protocols on small data.  "
                      "Files: PLY, OBJ, GLB (coloured points), NPY; `modalities.pointcloud.io.to_mesh` makes a "
                      "convex-hull or voxel mesh as a post-process."),
        limitations=(
            "Points only: surfaces are not modelled; any mesh made from a sample is a post-process.",
            "Small data (procedural primitives or 820 furniture models): nothing here is a general 3-D generator, "
            "and the metrics are not comparable with ShapeNet numbers in the literature.",
            "Completion holds the given points exactly but only conditions the rest through them (replacement "
            "inpainting, no training for completion); the partial cloud must be in the model's normalised frame.",
            "Trained with a small compute budget (see Training); compare the metrics with the real_clouds column.",
            "On two CPU cores a 2048-point cloud costs about a second per sampler step, more with guidance: "
            "`zoo sample` draws one cloud at 16 steps by default; `--points 512` is a quicker draft.",
            *([SEEN[name]] if name in SEEN else []),
        ),
        metrics={key: MetricDoc(what, higher) for key, (what, higher) in METRICS.items()},
        indexed_metrics=INDEXED,
        example=example,
        command=command,
        protocol_settings=PROTOCOL_SETTINGS,
    )
