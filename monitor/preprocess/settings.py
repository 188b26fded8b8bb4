"""Preprocessing settings (YAML section ``preprocess:``), frozen and stdlib-only."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PreprocessSettings"]


@dataclass(frozen=True)
class PreprocessSettings:
    """How files are brought onto the model grid."""

    fill_value: float = field(
        default=0.0,
        metadata={"doc": "DN/s written where the image does not cover the grid"})
    min_pixel_coverage: float = field(
        default=0.5, metadata={"gt": 0, "le": 1,
                               "doc": "a grid pixel needs this valid fraction of its box, "
                                      "else it gets fill_value"})
    min_grid_coverage: float = field(
        default=0.05, metadata={"ge": 0, "le": 1,
                                "doc": "refuse (no_grid_overlap) when fewer grid pixels "
                                       "than this fraction are covered"})
    threads: int = field(
        default=1, metadata={"ge": 1, "le": 64,
                             "doc": "threads per image (row bands in parallel); raise it for "
                                    "latency when cores are idle, keep 1 when the worker "
                                    "pool already keeps every core busy (the daemon lends "
                                    "a file sent to an idle pool the idle workers' cores "
                                    "anyway)"})
    degradation_table: str = field(
        default="builtin",
        metadata={"doc": "AIA degradation correction: 'builtin' (the shipped daily factors, "
                         "calibration v9), 'none', or a path to an aiapy/SSW response table "
                         "(aia_V*_response_table.txt), a folder of degrad_<channel>.csv or a "
                         "wide CSV; past its last day factors are extrapolated. check-config and "
                         "run refuse a path that does not parse"})
