"""Which options an extra directive line sets, read the way the scheduler reads it, and which of
those it may not set.

dask-jobqueue writes `job_extra_directives` after its own `#BSUB`/`#SBATCH`/`#$` lines, so a
directive that sets the queue, the walltime, the cores... again overrides what was validated.
Each scheduler reads a directive line in its own way:

- Words. The line is split into shell words (quotes group, as sbatch, qsub and OpenLava's bsub
  do). OpenLava's tokenizer only honours a quote at the start of a word, and IBM's is not
  published, so the line is also read as plain whitespace-separated words with the quotes
  dropped: an option hidden inside quotes for one reading is seen by the other. A word that
  starts with "-" is always read as an option, even where it could be the argument of the one
  before: a required argument that looks like a refused option is refused, never overlooked.
- Options. `getopt` (Slurm's sbatch, PBS's qsub): short flags cluster (`-Op bigmem` is `-O -p
  bigmem`, `-vpbigmem` is `-v -p bigmem`), long options take `=value` or the next word and may be
  cut to any prefix (`--part=bigmem`). `lsf`: bsub matches whole words (IBM) or, like OpenLava's
  my_getopt, the first option of its template that begins the word, the rest of which is the
  argument (`-qbigmem` is `-q bigmem`, `-env` is `-e nv`); clustered flags (`-Bq bigmem`) are
  refused by OpenLava, and read one by one here in case another bsub takes them. `words`
  (Grid Engine's qsub): whole words only (`-hard`, `-pe mpi 64`); an unknown word that begins
  like a refused option is refused too.
- Resources. Options such as Grid Engine's and PBS's `-l` carry lists (`-l a=1,h_rt=99:00:00`):
  each name in them is checked.

Each scheduler is one row of data (`DirectiveSyntax`); a new scheduler is one more table."""

from __future__ import annotations

import re
import shlex
from bisect import bisect_left
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

from .errors import FieldError
from .script_safety import DIRECTIVES_OPTION, shorten

# getopt's optional_argument: only a glued (`-kvalue`) or `=` (`--opt=value`) argument counts.
OPTIONAL = -1

# What a refused option sets, when it is not one of the user's options: why it is refused.
RESERVED = {
    "job name": "the job name, which pangeo-hpc-ext sets itself to recognise the cluster's jobs",
    "job array": "the job array, which pangeo-hpc-ext sets itself (the job_array option)",
    "options file": "options read from a file, which cannot be checked",
    "every option": "every option set before it",
}


@dataclass(frozen=True)
class DirectiveSyntax:
    """How one scheduler reads the options of a directive line, and which it may not set."""

    scheduler: str
    style: Literal["getopt", "lsf", "words"]
    # Every option known, spelled as written ("-q", "--partition"), and how many arguments it
    # takes: 0, 1, 2 (Grid Engine's `-pe NAME SLOTS`) or OPTIONAL.
    arguments: Mapping[str, int]
    # Options that would set what was validated: option -> the user's option (or RESERVED key).
    refused: Mapping[str, str]
    # Options whose argument is a list of resources, and what separates its items.
    resource_options: frozenset[str] = frozenset()
    resource_separators: str = ","
    # Resource names (lower case) that would set what was validated.
    refused_resources: Mapping[str, str] = field(default_factory=dict)
    # lsf: OpenLava's bsub template, in its order (the first option that begins a word wins).
    template: tuple[str, ...] = ()

    # Lookups built once: a request may hold 64 KiB of directive words, each read in several
    # ways (off the event loop, but on the server's CPU all the same).
    @cached_property
    def long_options(self) -> tuple[str, ...]:
        return tuple(sorted(o for o in self.arguments if o.startswith("--")))

    @cached_property
    def longest(self) -> int:
        return max(map(len, self.arguments), default=0)

    @cached_property
    def template_rank(self) -> dict[str, int]:
        return {option: rank for rank, option in enumerate(self.template)}

    def prefixes(self, word: str) -> Iterator[str]:
        """The known options that begin `word` and are shorter than it."""
        for end in range(2, min(len(word) - 1, self.longest) + 1):
            if word[:end] in self.arguments:
                yield word[:end]

    def refusing_resources(self, extra: Mapping[str, str]) -> DirectiveSyntax:
        """This syntax with more resource names refused (a site's memory resource)."""
        merged = {**self.refused_resources, **{k.lower(): v for k, v in extra.items()}}
        return replace(self, refused_resources=merged)


@dataclass(frozen=True)
class Setting:
    """One thing a directive line sets that it may not: the option as the scheduler reads it
    (`-q`, `-l h_rt`) and what it would override."""

    option: str
    overrides: str


class Unsplittable(ValueError):
    """A line that cannot be split into words as the scheduler would (an unbalanced quote)."""


def readings(line: str) -> list[list[str]]:
    """The word lists a scheduler may read in `line`: shell words, and plain words without
    their quotes (OpenLava honours a quote only at the start of a word)."""
    try:
        shell_words = shlex.split(line)
    except ValueError as error:
        raise Unsplittable(str(error)) from None
    plain_words = [word.replace('"', "").replace("'", "") for word in line.split()]
    return [shell_words] if plain_words == shell_words else [shell_words, plain_words]


def settings(line: str, syntax: DirectiveSyntax) -> list[Setting]:
    """Everything in `line` that `syntax` refuses, over every reading; Unsplittable when the
    line cannot be split."""
    found: dict[Setting, None] = {}
    for words in readings(line):
        for index, word in enumerate(words):
            if len(word) < 2 or not word.startswith("-") or word == "--":
                continue
            following = words[index + 1] if index + 1 < len(words) else None
            for option, argument in option_readings(word, following, syntax):
                for setting in _refused(option, argument, syntax):
                    found.setdefault(setting, None)
    return list(found)


def option_readings(
    word: str, following: str | None, syntax: DirectiveSyntax
) -> Iterator[tuple[str, str | None]]:
    """(option, argument) for each way the scheduler may read `word`; `following` is the next
    word, which an option taking a separate argument consumes."""
    if syntax.style == "getopt":
        if word.startswith("--"):
            yield from _long_readings(word, following, syntax)
        else:
            yield from _clustered_readings(word, following, syntax, stop_at_unknown=False)
        return
    arity = syntax.arguments.get(word)
    if arity is not None:  # the whole word is an option (IBM's bsub, qsub)
        yield word, (following if arity >= 1 else None)
        if syntax.style == "words":
            return
    elif syntax.style == "words":
        # qsub refuses glued arguments; another reader might not: `-qbigmem.q`, `-lh_rt=9:0:0`.
        for option in syntax.prefixes(word):
            if syntax.arguments[option] >= 1:
                yield option, word[len(option) :]
        return
    yield from _template_readings(word, following, syntax)
    if arity is None:
        yield from _clustered_readings(word, following, syntax, stop_at_unknown=True)


def _long_readings(
    word: str, following: str | None, syntax: DirectiveSyntax
) -> Iterator[tuple[str, str | None]]:
    name, eq, value = word.partition("=")
    if name in syntax.arguments:
        candidates = [name]
    else:
        # getopt_long takes any unambiguous prefix; only the scheduler knows all its options,
        # so every option of ours the prefix could stand for counts (an ambiguous one the
        # scheduler refuses itself).
        longs = syntax.long_options
        start = bisect_left(longs, name)
        candidates = []
        while start < len(longs) and longs[start].startswith(name):
            candidates.append(longs[start])
            start += 1
    for option in candidates:
        arity = syntax.arguments[option]
        yield option, (value if eq else following if arity >= 1 else None)


def _clustered_readings(
    word: str, following: str | None, syntax: DirectiveSyntax, *, stop_at_unknown: bool
) -> Iterator[tuple[str, str | None]]:
    """Short flags one by one, as getopt reads `-vpbigmem`: flags go on, the first option that
    takes an argument takes the rest of the word (or, if none is left, the next word)."""
    for position in range(1, len(word)):
        option = "-" + word[position]
        rest = word[position + 1 :]
        arity = syntax.arguments.get(option)
        if arity is None:
            if stop_at_unknown:
                return
            continue  # getopt refuses it; reading on only ever refuses more
        if arity == 0:
            yield option, None
            continue
        if arity == OPTIONAL:
            yield option, rest or None
        else:
            yield option, rest or following
        return


def _template_readings(
    word: str, following: str | None, syntax: DirectiveSyntax
) -> Iterator[tuple[str, str | None]]:
    """OpenLava's my_getopt: the first option of the template that is the word or begins it;
    the rest of the word is its argument (an option without one is an error)."""
    rank = syntax.template_rank
    if word in rank and not any(rank[p] < rank[word] for p in syntax.prefixes(word) if p in rank):
        yield word, (following if syntax.arguments.get(word, 0) >= 1 else None)
        return
    matches = [p for p in syntax.prefixes(word) if p in rank]
    if matches:
        option = min(matches, key=rank.__getitem__)
        if syntax.arguments.get(option, 0) >= 1:
            yield option, word[len(option) :]


def _refused(option: str, argument: str | None, syntax: DirectiveSyntax) -> Iterator[Setting]:
    overrides = syntax.refused.get(option)
    if overrides is not None:
        yield Setting(option, overrides)
    if option in syntax.resource_options and argument:
        for name in resource_names(argument, syntax.resource_separators):
            overrides = syntax.refused_resources.get(name.lower())
            if overrides is not None:
                yield Setting(f"{option} {name}", overrides)


def resource_names(argument: str, separators: str) -> list[str]:
    """The names in a resource list: `a=1, h_rt=1:0:0` -> a, h_rt (qsub trims the spaces)."""
    items = re.split(f"[{re.escape(separators)}]", argument)
    return [name for item in items if (name := item.partition("=")[0].strip())]


def directive_errors(
    directives: Iterable[str],
    syntax: DirectiveSyntax,
    *,
    options: Collection[str],
    trusted: Collection[str] = (),
    field_name: str = DIRECTIVES_OPTION,
) -> list[FieldError]:
    """A 422 for each directive that would set again what was validated. `options` are the
    user's option names (what a refused option may point to instead); `trusted` directives (the
    admin's own defaults) may set anything."""
    errors: list[FieldError] = []
    for index, directive in enumerate(directives):
        if directive in trusted:
            continue
        field_path = f"{field_name}.{index}"
        try:
            found = settings(directive, syntax)
        except Unsplittable as error:
            errors.append(
                FieldError(
                    field_path,
                    f"{field_path}: {shorten(directive)} cannot be split into words as "
                    f"{syntax.scheduler} reads them ({error})",
                )
            )
            continue
        for setting in found:
            errors.append(
                FieldError(field_path, f"{field_path}: {_explain(directive, setting, options)}")
            )
    return errors


def _explain(directive: str, setting: Setting, options: Collection[str]) -> str:
    where = f"{setting.option} in {shorten(directive)}"
    what = setting.overrides
    if what in options:
        return f"{where} would override the {what!r} option; set {what!r} instead"
    return f"{where} would override {RESERVED.get(what, what)}"


# -- the tables -----------------------------------------------------------------------------------

# IBM Spectrum LSF 10.1 bsub: every option and its argument count (IBM's bsub man page).
_LSF_ARGUMENTS = {
    **dict.fromkeys(
        "-B -H -I -Ip -IS -ISp -ISs -Is -IX -K -N -Ne -r -rn -ti -tty -ul -x -XF -Zs -h -V "
        "-ar -hl -datachk".split(),
        0,
    ),
    **dict.fromkeys(
        "-a -alloc_flags -app -b -C -c -clusters -cn_cu -cn_mem -core_isolation -csm -cwd -D "
        "-data -datagrp -E -Ep -e -eo -env -eptl -ext -F -f -freq -G -g -gpu -hostfile -i -is "
        "-J -Jd -jobaff -jsdl -jsdl_strict -jsm -k -L -Lp -ln_mem -ln_slots -M -m -mig -n "
        "-network -nnodes -notify -o -oo -outdir -P -p -pack -ptl -Q -q -R -rcacct -rnc -S -s "
        "-sla -smt -sp -stage -step_cgroup -T -t -U -u -v -W -We -w -wa -wt -X -O".split(),
        1,
    ),
}
# OpenLava's (and volclava's) bsub template, in its order (lsbatch/cmd/cmd.sub.c).
_OPENLAVA_TEMPLATE = tuple(
    "-" + name
    for name in "E T a w f k R m Jd J L u is i o e Zs n q b t sp s c v p W F D S C M O P "
    "Ip Is I r H x N B h V X K".split()
)

LSF = DirectiveSyntax(
    scheduler="LSF",
    style="lsf",
    arguments=_LSF_ARGUMENTS,
    refused={
        "-q": "queue",
        "-clusters": "queue",  # another cluster's queues
        "-P": "project",
        "-n": "cores",
        "-R": "cores",  # span[], and rusage[mem] too
        "-M": "memory",
        "-W": "walltime",
        "-J": "job name",
        "-Jd": "job name",
        "-o": "log_directory",
        "-oo": "log_directory",
        "-e": "log_directory",
        "-eo": "log_directory",
        "-outdir": "log_directory",
        "-pack": "options file",
        "-jsdl": "options file",
        "-jsdl_strict": "options file",
    },
    template=_OPENLAVA_TEMPLATE,
)

# Slurm 22.05 sbatch (`sbatch --help`): short options, then long ones.
_SLURM_ARGUMENTS = {
    **{f"-{c}": 1 for c in "aAbBcCdDeFGiJLmMnNopqStwx"},
    **{f"-{c}": 0 for c in "hHOQsvVW"},
    "-k": OPTIONAL,
    **dict.fromkeys(
        "--contiguous --get-user-env --hold --ignore-pbs --no-requeue --overcommit --parsable "
        "--quiet --reboot --requeue --oversubscribe --spread-job --use-min-nodes --verbose "
        "--wait --help --usage --version --test-only --no-kill".split(),
        0,
    ),
    **dict.fromkeys("--export --nice --propagate --wrap --exclusive".split(), OPTIONAL),
    **dict.fromkeys(
        "--array --account --bb --bbf --begin --comment --cpu-freq --cpus-per-task --dependency "
        "--deadline --delay-boot --chdir --error --export-file --gid --gres --gres-flags "
        "--input --job-name --licenses --clusters --container --distribution --mail-type "
        "--mail-user --mcs-label --ntasks --ntasks-per-node --nodes --output --partition "
        "--power --priority --profile --qos --core-spec --signal --switches --thread-spec "
        "--time --time-min --uid --wckey --cluster-constraint --constraint --nodefile --mem "
        "--mincpus --reservation --tmp --nodelist --exclude --mem-per-cpu --sockets-per-node "
        "--cores-per-socket --threads-per-core --extra-node-info --ntasks-per-core "
        "--ntasks-per-socket --cpus-per-gpu --gpus --gpu-bind --gpu-freq --gpus-per-node "
        "--gpus-per-socket --gpus-per-task --mem-per-gpu --mem-bind --hint --open-mode "
        "--acctg-freq --kill-on-invalid-dep".split(),
        1,
    ),
}

SLURM = DirectiveSyntax(
    scheduler="Slurm",
    style="getopt",
    arguments=_SLURM_ARGUMENTS,
    refused={
        "-p": "queue",
        "--partition": "queue",
        "-M": "queue",  # another cluster's partitions
        "--clusters": "queue",
        "-A": "account",
        "--account": "account",
        "-t": "walltime",
        "--time": "walltime",
        "--mem": "memory",
        "--mem-per-cpu": "memory",
        "--mem-per-gpu": "memory",
        "-c": "cores",
        "--cpus-per-task": "cores",
        "-n": "cores",
        "--ntasks": "cores",
        "-J": "job name",
        "--job-name": "job name",
        "-o": "log_directory",
        "--output": "log_directory",
        "-e": "log_directory",
        "--error": "log_directory",
        "-a": "job array",
        "--array": "job array",
    },
)

# Son of Grid Engine 8.1.9 qsub (`qsub -help`).
_SGE_ARGUMENTS = {
    **dict.fromkeys("-clear -cwd -hard -soft -h -V -verify -terse -notify -help".split(), 0),
    **dict.fromkeys(
        "-@ -a -ac -ar -A -b -binding -c -ckpt -dc -display -dl -e -hold_jid -hold_jid_ad -i "
        "-j -js -jsv -l -m -M -masterq -N -now -o -p -P -pty -q -R -r -sc -S -shell -sync -t "
        "-tc -v -w -wd".split(),
        1,
    ),
    "-pe": 2,
}
# Grid Engine's memory complexes and their shortcuts (`qconf -sc`): with a memory resource set,
# any of them could stand in for it.
SGE_MEMORY_RESOURCES = "h_vmem s_vmem h_rss s_rss h_data s_data mem_free mf virtual_free vf".split()

SGE = DirectiveSyntax(
    scheduler="Grid Engine",
    style="words",
    arguments=_SGE_ARGUMENTS,
    refused={
        "-q": "queue",
        "-masterq": "queue",
        "-P": "project",
        "-pe": "cores",
        "-N": "job name",
        "-o": "log_directory",
        "-e": "log_directory",
        "-t": "job array",
        "-@": "options file",
        "-jsv": "options file",  # a submit-side script that may rewrite any option
        "-clear": "every option",  # drops the -q, -l h_rt and -pe written before it
    },
    resource_options=frozenset({"-l"}),
    refused_resources={
        "h_rt": "walltime",
        "s_rt": "walltime",
        "qname": "queue",
        "q": "queue",
        "slots": "cores",
        "s": "cores",
    },
)

# PBS Pro / OpenPBS qsub: getopt, short options only; `-l` takes resources and select chunks.
PBS = DirectiveSyntax(
    scheduler="PBS",
    style="getopt",
    arguments={
        **{f"-{c}": 1 for c in "aAcCeJjklmMNopPqrRSuvW"},
        **{f"-{c}": 0 for c in "fhIVXz"},
    },
    refused={
        "-q": "queue",
        "-A": "account",
        "-P": "project",
        "-N": "job name",
        "-J": "job array",
        "-o": "log_directory",
        "-e": "log_directory",
    },
    resource_options=frozenset({"-l"}),
    resource_separators=",:+",
    refused_resources={
        "walltime": "walltime",
        "select": "cores",
        "nodes": "cores",
        "ncpus": "cores",
        "mpiprocs": "cores",
        "mem": "memory",
        "vmem": "memory",
    },
)

SYNTAXES = {syntax.scheduler: syntax for syntax in (LSF, SLURM, SGE, PBS)}
