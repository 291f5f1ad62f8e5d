"""``python -m neuript``: the command line, also as a module for launchers
(``torchrun --nproc_per_node N -m neuript pretrain ...``)."""

from neuript.cli import main

if __name__ == "__main__":
    main()
