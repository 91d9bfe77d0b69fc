# The two set-up commands, `make demo` and `make test`, each create .venv and install the
# project with its dev extras when needed, so both work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench-tabular bench-transfer bench-fmnist bench-views clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fewlabels demo --out runs/demo --overwrite

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff check --fix .

bench-tabular: $(STAMP)
	$(BIN)/python benchmarks/tabular.py --seeds 5 --methods 'table-ensemble,table-ensemble (no network),table-ensemble (calibrated),sklearn ST(LR),sklearn ST(SVC),sklearn ST(HGB),sklearn LabelSpreading,sklearn LabelPropagation,supervised MLP,FixMatch (rows),fewlabels ST(LR) calibrated,fewlabels ST(SVC) calibrated,ceiling (all labels)'
	$(BIN)/python benchmarks/tabular.py --seeds 10,11,12,13,14 --methods 'table-ensemble,table-ensemble (no network),table-ensemble (calibrated),FixMatch (rows),sklearn ST(LR),sklearn ST(SVC),sklearn ST(HGB),sklearn LabelSpreading,sklearn LabelPropagation,ceiling (all labels)' --out benchmarks/results/tabular_fresh.json --table docs/benchmarks/tabular_fresh.md
	$(BIN)/python benchmarks/tabular.py --seeds 5 --methods 'table-ensemble,FixMatch (rows),teacher-student (rows)' --out benchmarks/results/tabular_teacher_student.json --table docs/benchmarks/tabular_teacher_student.md
	$(BIN)/python benchmarks/tabular.py --seeds 10,11,12,13,14 --methods 'table-ensemble,table-ensemble (select=cv),table-ensemble (select=labels),table-ensemble (graph on network),sklearn ST(LR),sklearn ST(SVC),sklearn ST(HGB),sklearn LabelSpreading,sklearn LabelPropagation' --out benchmarks/results/tabular_select.json --table docs/benchmarks/tabular_select.md
	$(BIN)/python benchmarks/tabular.py --seeds 5 --methods 'table-ensemble,table-ensemble (standard scaling)' --out benchmarks/results/tabular_scaling.json --table docs/benchmarks/tabular_scaling.md
	$(BIN)/python benchmarks/label_spreading_digits.py --seeds 2,0,1
	$(BIN)/python benchmarks/tabular.py --seeds 5 --methods 'supervised MLP,self-training MLP,self-training MLP (calibrated)' --out benchmarks/results/tabular_self_training.json --table docs/benchmarks/tabular_self_training.md
	$(BIN)/python benchmarks/tabular.py --seeds 10,11,12,13,14 --methods 'self-training MLP,self-training MLP (calibrated)' --out benchmarks/results/tabular_self_training_fresh.json --table docs/benchmarks/tabular_self_training_fresh.md

bench-transfer: $(STAMP)
	$(BIN)/python benchmarks/transfer.py --seeds 3

# The recipe's table: 4 rows x 3 seeds x 30 minutes, about 6.5 hours on one idle machine,
# then the recipe alone for 2 hours. --resume makes only the runs still missing, and refuses a
# file timed on another CPU: the files in the repository were made on a 2-core AMD EPYC
# (family 25, model 17); elsewhere name new ones, e.g.
# `make bench-fmnist FMNIST=fmnist_mine FMNIST_2H=fmnist_mine_2h`.
FMNIST ?= fmnist_400_recipe_epyc
FMNIST_2H ?= fmnist_400_recipe_2h
bench-fmnist: $(STAMP)
	$(BIN)/python benchmarks/fmnist_400.py --resume --seeds 3 --budget-min 30 --methods supervised,supervised-all,softmatch,teacher-student --out benchmarks/results/$(FMNIST).json --table docs/benchmarks/$(FMNIST).md
	$(BIN)/python benchmarks/fmnist_400.py --resume --seeds 1 --budget-min 120 --methods teacher-student --out benchmarks/results/$(FMNIST_2H).json --table docs/benchmarks/$(FMNIST_2H).md

# What each image view does to the label: supervised on all 60,000 labels, policy by policy.
bench-views: $(STAMP)
	$(BIN)/python benchmarks/views.py --seeds 1

clean:
	rm -rf $(VENV) runs build src/*.egg-info
