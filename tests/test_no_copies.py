"""No block of more than 15 lines is copied inside src/ (issue 16's acceptance).

A copy is found on normalised lines: each line stripped, blank lines and `#` comment lines
left out, so re-indenting or re-commenting a copy does not hide it. Every window of
MAX_LINES + 1 consecutive normalised lines is hashed; a window seen in two places (two
files, or two non-overlapping places of one file) is a copied block.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "stockpipe"
MAX_LINES = 15

Place = tuple[str, int]  # (file, first source line of the window)


def normalised(text: str) -> list[tuple[int, str]]:
    """(source line number, stripped line) of the lines that count: no blanks, no comments."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append((number, stripped))
    return out


def copied_blocks(files: Mapping[str, str], size: int = MAX_LINES + 1) -> set[tuple[Place, Place]]:
    """Pairs of places whose next `size` normalised lines are equal, each pair once, in order;
    overlapping windows of one file (a run of equal lines) do not count as a copy."""
    seen: dict[tuple[str, ...], list[tuple[str, int, int]]] = defaultdict(list)
    for name, text in files.items():
        lines = normalised(text)
        for i in range(len(lines) - size + 1):
            window = tuple(line for _, line in lines[i : i + size])
            seen[window].append((name, i, lines[i][0]))
    pairs: set[tuple[Place, Place]] = set()
    for places in seen.values():
        for a, (name_a, index_a, line_a) in enumerate(places):
            for name_b, index_b, line_b in places[a + 1 :]:
                if name_a == name_b and abs(index_a - index_b) < size:
                    continue
                pairs.add(((name_a, line_a), (name_b, line_b)))
    return pairs


def first_of_each_run(pairs: Iterable[tuple[Place, Place]]) -> list[tuple[Place, Place]]:
    """One pair per copied block: a block of n lines gives n - size + 1 shifted windows."""
    ordered = sorted(pairs)
    keep = []
    shown: set[tuple[str, str]] = set()
    for (file_a, line_a), (file_b, line_b) in ordered:
        if (file_a, file_b) in shown:
            continue
        shown.add((file_a, file_b))
        keep.append(((file_a, line_a), (file_b, line_b)))
    return keep


def _sources(root: Path = SRC) -> dict[str, str]:
    return {
        str(path.relative_to(root.parent)): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*.py"))
    }


# -- the detector itself, on hand-made input ------------------------------------------------


def _block(prefix: str, n: int) -> str:
    return "".join(f"{prefix}{i} = {i}\n" for i in range(n))


def test_a_block_of_sixteen_lines_in_two_files_is_a_copy() -> None:
    block = _block("x", 16)
    files = {"a.py": "import os\n" + block, "b.py": block + "print(1)\n"}
    assert copied_blocks(files) == {(("a.py", 2), ("b.py", 1))}


def test_fifteen_lines_are_allowed() -> None:
    block = _block("x", 15)
    assert copied_blocks({"a.py": block + "a = 1\n", "b.py": block + "b = 2\n"}) == set()


def test_indentation_blank_lines_and_comments_do_not_hide_a_copy() -> None:
    block = _block("x", 16)
    disguised = "\n".join(f"        {line}\n\n    # a new comment" for line in block.splitlines())
    pairs = copied_blocks({"a.py": block, "b.py": "def f():\n" + disguised})
    assert pairs == {(("a.py", 1), ("b.py", 2))}


def test_a_copy_inside_one_file_counts_but_a_run_of_equal_lines_does_not() -> None:
    block = _block("x", 16)
    assert copied_blocks({"a.py": block + "y = 0\n" + block}) == {(("a.py", 1), ("a.py", 18))}
    # 31 equal lines: every two 16-line windows overlap, so there is no second place.
    assert copied_blocks({"a.py": "pass\n" * 31}) == set()


def test_a_longer_copy_is_reported_once_per_pair_of_files() -> None:
    block = _block("x", 30)
    pairs = copied_blocks({"a.py": block, "b.py": block})
    assert len(pairs) == 15  # one per shifted 16-line window
    assert first_of_each_run(pairs) == [(("a.py", 1), ("b.py", 1))]


# -- src/ ------------------------------------------------------------------------------------


def test_no_block_longer_than_fifteen_lines_is_copied_in_src() -> None:
    found = first_of_each_run(copied_blocks(_sources()))
    assert found == [], "move the copied block into one function both places call"
