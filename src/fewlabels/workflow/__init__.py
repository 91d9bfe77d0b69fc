"""Run-directory workflows: what `fewlabels fit`, `evaluate`, `predict` and `demo` do.

The CLI only parses arguments and calls these functions, so everything it can do, Python can
do too:

- `runs`: `fit_run`, `evaluate_run`, `predict_run` and `demo`, on files, folders and
  built-in datasets;
- `experiment`: `run_experiment` (fit a method and its baseline, score, write the run),
  `make_estimator` and `methods`;
- `rundir`: the run directory's files, checked before training;
- `reporting`: what a run reports about each kind of estimator;
- `export`: `export_run`, a run's model as a SavedModel or a TFLite file;
- `html_report`: `write_report`, the run's `report.html`.
"""

from fewlabels.workflow.experiment import RunResult, make_estimator, methods, run_experiment
from fewlabels.workflow.export import export_run
from fewlabels.workflow.html_report import write_report
from fewlabels.workflow.rundir import check_run_dir, versions
from fewlabels.workflow.runs import demo, evaluate_run, fit_run, predict_run

__all__ = [
    "RunResult",
    "check_run_dir",
    "demo",
    "evaluate_run",
    "export_run",
    "fit_run",
    "make_estimator",
    "methods",
    "predict_run",
    "run_experiment",
    "versions",
    "write_report",
]
