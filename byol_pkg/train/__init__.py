"""Pretraining: the loop, its data stream, checkpoints and process group."""
