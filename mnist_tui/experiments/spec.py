"""What an experiment is: a base config, a grid of fields crossed with seeds, or a search, parsed and checked."""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass, field

from mnist_tui.engine.config import TrainConfig, make_config

# Fields that say where a run lives or who it is, never what it learns: not a factor of an experiment.
NOT_FACTORS = {"runs_dir", "data_dir", "experiment", "trial", "seed", "threads", "device"}
SAMPLERS = ("grid", "tpe", "random")
PRUNERS = ("none", "median")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class SpecError(ValueError):
    """An experiment that cannot be made as asked; the message says why in one line."""


@dataclass(frozen=True)
class SearchRange:
    """A searched field: a float or int between `low` and `high`, on a log scale if asked."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    base: dict  # train options every trial starts from (make_config's arguments: model, preset, overrides)
    grid: dict[str, list] = field(default_factory=dict)  # field -> its levels, in the order given
    seeds: list[int] = field(default_factory=lambda: [0])
    search: dict[str, SearchRange] = field(default_factory=dict)
    trials: int = 0  # a search's trial budget (a grid has one trial per cell and seed)
    sampler: str = "grid"
    prune: str = "none"
    # Cells given one by one instead of every combination of the grid's levels (the built-in comparison:
    # 1/2/3-layer without augmentation, and 3-layer with it); `grid` still names each factor's levels.
    explicit: list[dict] = field(default_factory=list)

    @property
    def is_search(self) -> bool:
        return bool(self.search)

    def cells(self) -> list[dict]:
        """Every combination of the grid's levels, in the order the levels were given."""
        if self.explicit:
            return [dict(cell) for cell in self.explicit]
        names = list(self.grid)
        return [dict(zip(names, values)) for values in itertools.product(*(self.grid[n] for n in names))]

    def trial_params(self) -> list[dict]:
        """A grid's trials: each cell with each seed, seeds innermost so a cell's seeds run close together."""
        return [{**cell, "seed": seed} for cell in self.cells() for seed in self.seeds]

    def config_for(self, params: dict, runs_dir: str, trial: int) -> TrainConfig:
        """The TrainConfig of one trial: the base, then its grid and searched values, tagged with the trial."""
        values = dict(self.base)
        model, preset = values.pop("model", None), values.pop("preset", None)
        params = dict(params)
        model = params.pop("model", model)
        preset = params.pop("preset", preset)
        values.update(params)
        values.update(runs_dir=str(runs_dir), experiment=self.name, trial=trial)
        return make_config(model, preset or None, **values)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["search"] = {k: dataclasses.asdict(v) for k, v in self.search.items()}
        return out

    @classmethod
    def from_dict(cls, values: dict) -> ExperimentSpec:
        search = {k: SearchRange(**v) for k, v in (values.get("search") or {}).items()}
        return cls(
            name=str(values["name"]),
            base=dict(values.get("base") or {}),
            grid={k: list(v) for k, v in (values.get("grid") or {}).items()},
            seeds=[int(s) for s in values.get("seeds") or [0]],
            search=search,
            trials=int(values.get("trials") or 0),
            sampler=str(values.get("sampler") or "grid"),
            prune=str(values.get("prune") or "none"),
            explicit=[dict(c) for c in values.get("explicit") or []],
        )


def _fields() -> dict[str, type]:
    hints = {"bool": bool, "int": int, "float": float, "str": str}
    return {f.name: hints.get(str(f.type), str) for f in dataclasses.fields(TrainConfig)}


def _value(name: str, text: str, kind: type):
    text = text.strip()
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "on", "yes", "1"):
            return True
        if lowered in ("false", "off", "no", "0"):
            return False
        raise SpecError(f"{name} takes on/off (true/false), not {text!r}")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise SpecError(f"{name} takes whole numbers, not {text!r}") from None
    if kind is float:
        try:
            value = float(text)
        except ValueError:
            raise SpecError(f"{name} takes numbers, not {text!r}") from None
        if not math.isfinite(value):
            raise SpecError(f"{name} must be a finite number, not {text!r}")
        return value
    if not text:
        raise SpecError(f"{name} has an empty level")
    return text


def _field_name(name: str) -> str:
    name = name.strip().replace("-", "_")
    fields = _fields()
    if name == "model" or name == "preset":
        return name
    if name not in fields or name in NOT_FACTORS:
        known = ", ".join(sorted(set(fields) - NOT_FACTORS))
        raise SpecError(f"{name!r} is not a field an experiment can vary; choose from: {known}")
    return name


def parse_grid(items: list[str]) -> dict[str, list]:
    """`--grid FIELD=V1,V2` options into {field: [levels]}, each level typed as TrainConfig types it."""
    grid: dict[str, list] = {}
    for item in items:
        name, sep, levels = item.partition("=")
        if not sep or not levels.strip():
            raise SpecError(f"--grid {item!r}: write FIELD=V1,V2 (for example model=1-layer,3-layer)")
        name = _field_name(name)
        if name in grid:
            raise SpecError(f"--grid names {name} twice; give all its levels in one --grid")
        kind = _fields().get(name, str)
        values = [_value(name, v, kind) for v in levels.split(",")]
        if len(set(map(repr, values))) < len(values):
            raise SpecError(f"--grid {name} lists a level twice")
        grid[name] = values
    return grid


def parse_search(items: list[str]) -> dict[str, SearchRange]:
    """`--search FIELD=LOW:HIGH[:log]` options into {field: SearchRange}."""
    search: dict[str, SearchRange] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        parts = rest.split(":")
        if not sep or len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise SpecError(
                f"--search {item!r}: write FIELD=LOW:HIGH or FIELD=LOW:HIGH:log (for example lr=1e-4:1e-2:log)"
            )
        name = _field_name(name)
        kind = _fields().get(name)
        if kind not in (int, float):
            raise SpecError(f"--search {name}: only numeric fields can be searched; use --grid for {name}")
        low, high = (_value(name, p, kind) for p in parts[:2])
        log = len(parts) == 3
        if not low < high:
            raise SpecError(f"--search {name}: LOW must be below HIGH")
        if log and low <= 0:
            raise SpecError(f"--search {name}: a log scale needs LOW above 0")
        search[name] = SearchRange(float(low), float(high), log, kind is int)
    return search


# The reference project's lessons: depth (1, 2, 3 layers) without augmentation, and augmentation on 3 layers.
REFERENCE_CELLS = [
    {"model": "1-layer", "augment": False},
    {"model": "2-layer", "augment": False},
    {"model": "3-layer", "augment": False},
    {"model": "3-layer", "augment": True},
]


def reference_spec(name: str, base: dict, seeds: int = 1) -> ExperimentSpec:
    """Compare as an experiment: the four reference cells, each with `seeds` seeds."""
    if seeds < 1:
        raise SpecError("seeds must be at least 1")
    grid = {"model": ["1-layer", "2-layer", "3-layer"], "augment": [False, True]}
    if not NAME.match(name or ""):
        raise SpecError(f"experiment name {name!r}: use letters, digits, '.', '_' or '-' (up to 64, no spaces)")
    base = {k: v for k, v in base.items() if k not in ("model", "augment")}
    spec = ExperimentSpec(name, base, grid, list(range(seeds)), explicit=[dict(c) for c in REFERENCE_CELLS])
    for cell in spec.cells():
        try:
            spec.config_for({**cell, "seed": 0}, ".", 0)
        except (ValueError, KeyError) as error:
            raise SpecError(f"the {cell_name(cell)} cell cannot train: {error}") from None
    return spec


def cell_name(config: dict) -> str:
    """`model=3-layer, augment=on`: a cell as people read it."""
    return ", ".join(f"{k}={level_text(v)}" for k, v in config.items()) or "all trials"


def level_text(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def make_spec(
    name: str,
    base: dict,
    grid_items: list[str] | None = None,
    seeds: int = 1,
    search_items: list[str] | None = None,
    trials: int = 0,
    sampler: str | None = None,
    prune: str = "none",
) -> ExperimentSpec:
    """Parse and check an experiment as the CLI and the app's form give it; SpecError says what is wrong."""
    if not NAME.match(name or ""):
        raise SpecError(f"experiment name {name!r}: use letters, digits, '.', '_' or '-' (up to 64, no spaces)")
    grid = parse_grid(grid_items or [])
    search = parse_search(search_items or [])
    if overlap := set(grid) & set(search):
        raise SpecError(f"{', '.join(sorted(overlap))} is both in --grid and --search; choose one")
    if not grid and not search:
        raise SpecError("an experiment needs at least one --grid or --search field")
    if seeds < 1:
        raise SpecError("--seeds must be at least 1")
    if search:
        sampler = sampler or "tpe"
        if sampler == "grid":
            raise SpecError("--sampler grid walks a --grid; a --search needs tpe or random")
        if trials < 1:
            raise SpecError("a --search needs --trials N (how many trials to spend)")
    else:
        sampler = sampler or "grid"
        if sampler != "grid":
            raise SpecError(f"--sampler {sampler} needs a --search field to sample")
        if trials:
            raise SpecError("--trials is for a --search; a grid runs every cell with every seed")
    if sampler not in SAMPLERS:
        raise SpecError(f"unknown sampler {sampler!r}; choose {', '.join(SAMPLERS)}")
    if prune not in PRUNERS:
        raise SpecError(f"unknown pruner {prune!r}; choose {', '.join(PRUNERS)}")
    spec = ExperimentSpec(name, dict(base), grid, list(range(seeds)), search, trials, sampler, prune)
    # Every cell must make a valid config now, not fail as a trial an hour later.
    probes = spec.cells() if grid else [{}]
    for cell in probes:
        edges = [{k: r.low for k, r in search.items()}, {k: r.high for k, r in search.items()}]
        for edge in edges:
            values = {**cell, **{k: (int(v) if search[k].integer else v) for k, v in edge.items()}, "seed": 0}
            try:
                spec.config_for(values, ".", 0)
            except (ValueError, KeyError) as error:
                where = ", ".join(f"{k}={v}" for k, v in {**cell, **edge}.items())
                raise SpecError(f"the trial with {where} cannot train: {error}") from None
    return spec
