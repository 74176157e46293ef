# byol-bench workflow: `snakemake --cores all` from the repository root. Rules live in workflow/rules/,
# split by stage: data -> pretraining -> features -> linear / semi-supervised / transfer evaluation -> report.
from snakemake.utils import min_version

min_version("9.0")


# The default config unless --configfile names another one (config files given there would otherwise be
# merged key by key into the default: its transfer datasets and methods would leak into every other config).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


report: "workflow/report/report.rst"


rule all:
    input:
        "results/report/results.md",


include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/external.smk"
include: "workflow/rules/eval.smk"
include: "workflow/rules/semisup.smk"
include: "workflow/rules/transfer.smk"
include: "workflow/rules/report.smk"
