"""`router simulate`: the real engine and plugins on a virtual clock (docs/simulate.md).

`workload` reads the workload file (with `workload_values`, `trace`; the value
objects are in `workload_types`), `arrivals` and `distributions` draw what
happens, `agents` answers offers and keeps shifts, `run` is the event loop,
`tally` counts and `report` sums up, `table` and `compare` print one run or
two side by side, `plot` draws the day, `command` is the subcommand, and
`erlang` holds the theory the tests check the simulator against.
"""
