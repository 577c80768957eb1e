"""Training's subcommands: `generate`, `prepare`, `train`, `template-cv` and `export`."""

from serving.cli import stage_command

generate = stage_command("generate the synthetic conversation splits", "training.generate:generate_stage", "train")
prepare = stage_command(
    "turn every source of params.yaml (synthetic, PAN12, PANC, records) into leak-free splits",
    "training.prepare:prepare_stage",
    "train",
)
train = stage_command(
    "train the TF-IDF baseline, the transformer and the metadata model", "training.pipeline:train_stage", "train"
)
export = stage_command(
    "export ONNX (fp32, int8), check parity, calibrate and write the bundle", "training.pipeline:export_stage", "train"
)
template_cv = stage_command(
    "template-family cross-validation: train without each family of escalation phrasing, score it",
    "training.template_cv:template_cv_stage",
    "train",
)
