"""`router simulate`: the real engine and plugins on a virtual clock (docs/simulate.md).

`workload` reads the workload file, `arrivals` and `distributions` draw what
happens, `agents` answers offers and keeps shifts, `run` is the event loop,
`tally` and `report` count and sum up, `compare` sets two runs side by side,
`plot` draws the day, and `erlang` holds the theory the tests check against.
"""
