"""Data-parallel training on ``torch.distributed``, launched by ``torchrun`` (one process per GPU or CPU slot)."""
