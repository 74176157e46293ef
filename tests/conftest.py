"""Test-wide settings: one intra-op thread, so that timings do not collapse when the cores are shared and
float reductions are the same in every process."""

import torch

torch.set_num_threads(1)
