"""Cut the small real samples shipped in recipes/data/ from ../shared/data (run once, seeded).

Lines are copied byte for byte (BOM, CRLF and header kept), so a recipe reads a
sample exactly as it reads the full file.
"""

import random
import sys
from pathlib import Path

SHARED = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
OUT = Path(__file__).resolve().parent.parent / "recipes" / "data"


def sample(src: Path, dst: Path, n: int | None, seed: int = 13, header: bool = True) -> None:
    lines = src.read_bytes().splitlines(keepends=True)
    header, rows = (lines[0], lines[1:]) if header else (b"", lines)
    if n is not None and n < len(rows):
        keep = sorted(random.Random(seed).sample(range(len(rows)), n))
        rows = [rows[i] for i in keep]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(header + b"".join(rows))
    print(f"{dst}: {len(rows)} rows")


sample(SHARED / "sst2/train.tsv", OUT / "sst2/train.tsv", 3000)
sample(SHARED / "sst2/dev.tsv", OUT / "sst2/dev.tsv", None)
sample(SHARED / "mrpc/msr_paraphrase_train.txt", OUT / "mrpc/msr_paraphrase_train.txt", 2000)
sample(SHARED / "mrpc/msr_paraphrase_test.txt", OUT / "mrpc/msr_paraphrase_test.txt", 500)
sample(SHARED / "goemotions/train.tsv", OUT / "goemotions/train.tsv", 4000, header=False)
sample(SHARED / "goemotions/dev.tsv", OUT / "goemotions/dev.tsv", 800, header=False)
sample(SHARED / "goemotions/test.tsv", OUT / "goemotions/test.tsv", 800, header=False)
(OUT / "goemotions/labels.txt").write_bytes((SHARED / "goemotions/labels.txt").read_bytes())
