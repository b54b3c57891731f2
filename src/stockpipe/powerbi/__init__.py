"""The Power BI project generator: PBIP/TMDL/PBIR files from the single data contract."""

from stockpipe.powerbi.base import GeneratedFile, Measure
from stockpipe.powerbi.measures import MEASURES
from stockpipe.powerbi.project import diff_project, generate_files, write_project

__all__ = [
    "MEASURES",
    "GeneratedFile",
    "Measure",
    "diff_project",
    "generate_files",
    "write_project",
]
