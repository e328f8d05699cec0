"""Speed and memory of PoNA on this machine: ``pona bench`` as a script (``make bench``).

    python benchmarks/bench.py --batches 1,7,8 --recompute --out bench.json
    python benchmarks/bench.py --quick

The measurements live in ``pona.bench``; the options are ``pona bench --help``'s.
"""

from pona.cli import main

if __name__ == "__main__":
    main(["bench", *__import__("sys").argv[1:]])
