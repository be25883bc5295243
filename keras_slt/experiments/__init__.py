"""The experiment harness: what a study runs on top of the core library.

- `config`: `SearchConfig`, the settings of one run (the search tool's flags
  are generated from its fields);
- `search`: `run_search`, one ticket search or weight-training baseline;
- `schedules`, `distribution`: its learning-rate schedules and where its
  steps run (one device or a tf.distribute strategy);
- `callbacks`: mask statistics and the resumable run checkpoint;
- `sources`: the model file and real inputs an export starts from (a run
  folder, a dataset);
- `sweep`, `pareto`, `plots`: grids of runs, the accuracy-size frontier and
  its figures.

Nothing here is needed to build, search or export a ticket from Python; the
core (`keras_slt.layers`, `keras_slt.SupermaskModel`, `keras_slt.ticket`...)
does not import this package.
"""
