# byol-bench workflow: `snakemake --cores all` from the repository root. Rules live in workflow/rules/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


rule all:
    input:
        pretrain_encoders(),


include: "workflow/rules/pretrain.smk"
