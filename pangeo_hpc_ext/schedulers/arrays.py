"""Job arrays as each scheduler writes them: the directive that makes a script an array of N
elements, the variable holding an element's index in its environment, and the id of one element
(which the scheduler's kill and state commands take for that element alone)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ArrayElement:
    """Which job array a job is an element of: the array's own id and the element's index
    (LSF `123[4]`, Slurm `123_4`, Grid Engine `123.4`, PBS `123[4].server`)."""

    parent: str
    index: int

    def to_json(self) -> dict[str, Any]:
        return {"parent": self.parent, "index": self.index}


@dataclass(frozen=True)
class JobArrays:
    """One scheduler's job arrays. Elements are numbered 1..N."""

    directive_prefix: str  # "#BSUB", "#SBATCH", "#$", "#PBS"
    # The variable an element's index is in, in the element's environment.
    index_variable: str
    # The directive added for N elements, with {count}: "--array=1-{count}".
    directive: str | None
    # How an element's id is written, with {parent} and {index}: "{parent}_{index}" (or with
    # the groups of parent_pattern instead of {parent}).
    element_format: str
    # And read back: a pattern with the groups `parent` and `index` (or parent_format's groups
    # instead of `parent`).
    element_pattern: str
    # Job name directive (`-J`) rewritten to carry the range (LSF: `-J "name[1-N]"`).
    name_option: str | None = None
    # Output file name patterns in directives: the job's id token, and what names one element's
    # files apart (LSF: %J -> %J_%I, Slurm: %J -> %A_%a).
    file_id_token: str | None = None
    file_element_token: str | None = None
    # What stands for an element's id in its files' names, when not the element's id itself.
    file_id_format: str | None = None
    # Where the index goes inside the array's own id rather than after it (PBS: qsub answers
    # `123[].server`, whose element 4 is `123[4].server`): the array's id read with this pattern,
    # whose groups element_format uses, and written back from element_pattern's groups.
    parent_pattern: str | None = None
    parent_format: str | None = None

    def element_id(self, parent: str, index: int) -> str:
        if self.parent_pattern is None:
            return self.element_format.format(parent=parent, index=index)
        match = re.fullmatch(self.parent_pattern, parent.strip())
        if match is None:
            raise ValueError(f"{parent!r} is not the id of a job array")
        return self.element_format.format(index=index, **match.groupdict())

    def file_id(self, job_id: str) -> str:
        """What a job's files are named by: LSF writes element 4 of 123 as `123_4`."""
        element = self.parse_element_id(job_id)
        if element is None or self.file_id_format is None:
            return job_id
        return self.file_id_format.format(parent=element.parent, index=element.index)

    def parse_element_id(self, job_id: str) -> ArrayElement | None:
        match = re.fullmatch(self.element_pattern, job_id.strip())
        if match is None:
            return None
        groups = match.groupdict()
        index = int(groups.pop("index"))
        if self.parent_format is None:
            return ArrayElement(groups["parent"], index)
        return ArrayElement(self.parent_format.format(**groups), index)

    def header(self, lines: list[str], count: int) -> list[str]:
        """A single job's directive lines, made those of an array of `count` elements."""
        out = []
        for line in lines:
            words = line.split()
            if (
                self.name_option is not None
                and len(words) == 3
                and words[0] == self.directive_prefix
                and words[1] == self.name_option
            ):
                line = f'{self.directive_prefix} {self.name_option} "{words[2]}[1-{count}]"'
            elif self.file_id_token and self.file_element_token:
                line = line.replace(self.file_id_token, self.file_element_token)
            out.append(line)
        if self.directive is not None:
            out.append(f"{self.directive_prefix} {self.directive.format(count=count)}")
        return out


LSF_ARRAYS = JobArrays(
    directive_prefix="#BSUB",
    index_variable="LSB_JOBINDEX",
    directive=None,
    element_format="{parent}[{index}]",
    element_pattern=r"(?P<parent>\d+)\[(?P<index>\d+)\]",
    name_option="-J",
    file_id_token="%J",
    file_element_token="%J_%I",
    file_id_format="{parent}_{index}",
)
SLURM_ARRAYS = JobArrays(
    directive_prefix="#SBATCH",
    index_variable="SLURM_ARRAY_TASK_ID",
    directive="--array=1-{count}",
    element_format="{parent}_{index}",
    element_pattern=r"(?P<parent>\d+)_(?P<index>\d+)",
    file_id_token="%J",
    file_element_token="%A_%a",
)
# Grid Engine names an array's files `<name>.o<job>.<task>` by itself.
SGE_ARRAYS = JobArrays(
    directive_prefix="#$",
    index_variable="SGE_TASK_ID",
    directive="-t 1-{count}",
    element_format="{parent}.{index}",
    element_pattern=r"(?P<parent>\d+)\.(?P<index>\d+)",
)
# PBS names an array's files after the element itself (`-o DIR/`: `123[4].server.OU`). qsub
# answers `123[].server` for the array; qstat prints its elements as `123[4].server`, the id
# `PBS_JOBID` holds in the element; qstat and qdel take the short form `123[4]` too.
PBS_ARRAYS = JobArrays(
    directive_prefix="#PBS",
    index_variable="PBS_ARRAY_INDEX",
    directive="-J 1-{count}",
    parent_pattern=r"(?P<number>\d+)\[\](?P<server>(?:\.[\w.\-]+)?)",
    element_format="{number}[{index}]{server}",
    element_pattern=r"(?P<number>\d+)\[(?P<index>\d+)\](?P<server>(?:\.[\w.\-]+)?)",
    parent_format="{number}[]{server}",
)
