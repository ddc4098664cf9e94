"""Queueing theory the simulator is checked against: Erlang B, C and A.

- Erlang C (M/M/c): Poisson arrivals at rate λ, exponential handle times with
  mean 1/μ, c agents, nobody abandons. Offered load a = λ/μ; needs a < c.
  P(wait) = C(c, a); P(wait > t) = C · e^{-(cμ - λ)t}; ASA = C / (cμ - λ).
- Erlang A (M/M/c+M): the same, plus exponential patience with mean 1/θ: a
  waiting customer abandons at rate θ. The number in the system is a birth-death
  chain (births λ; deaths min(n, c)μ + max(n - c, 0)θ); its stationary
  distribution gives P(wait) (an arrival sees all agents busy, PASTA), the mean
  queue length E[Q], P(abandon) = θ E[Q] / λ and the mean wait E[Q] / λ (Little).

Rates are per second. Erlang C comes from Erlang B's stable recurrence
B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)), and C = c B / (c - a (1 - B)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: the birth-death chain is cut where a state's probability falls below this share
_TAIL = 1e-16


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/M/c/c with offered load `load` (Erlangs)."""
    if servers < 0 or load < 0:
        raise ValueError("servers and load must be >= 0")
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival waits in M/M/c (load < servers)."""
    if load >= servers:
        raise ValueError(f"load {load:g} needs more than {servers} agents (Erlang C diverges)")
    if load == 0:
        return 0.0
    b = erlang_b(servers, load)
    return servers * b / (servers - load * (1 - b))


@dataclass(frozen=True, slots=True)
class ErlangC:
    wait_probability: float
    service_level: float
    asa_seconds: float
    occupancy: float


def erlang_c_figures(
    arrival_rate: float, mean_handle: float, servers: int, sla_seconds: float
) -> ErlangC:
    mu = 1.0 / mean_handle
    load = arrival_rate * mean_handle
    c = erlang_c(servers, load)
    drain = servers * mu - arrival_rate
    return ErlangC(
        wait_probability=c,
        service_level=1.0 - c * math.exp(-drain * sla_seconds),
        asa_seconds=c / drain,
        occupancy=load / servers,
    )


@dataclass(frozen=True, slots=True)
class ErlangA:
    wait_probability: float
    abandon_probability: float
    mean_queue: float
    #: mean wait of every arrival (answered or abandoned), seconds
    mean_wait_seconds: float
    #: share of agent time busy: λ (1 - P(abandon)) / (c μ)
    occupancy: float


def erlang_a_figures(
    arrival_rate: float, mean_handle: float, mean_patience: float, servers: int
) -> ErlangA:
    if servers < 1 or arrival_rate <= 0 or mean_handle <= 0 or mean_patience <= 0:
        raise ValueError("Erlang A needs servers >= 1 and positive rates")
    mu, theta = 1.0 / mean_handle, 1.0 / mean_patience
    # log-probabilities up to a constant: log p_n = sum log(λ / death_k)
    logs = [0.0]
    n = 0
    while True:
        n += 1
        death = min(n, servers) * mu + max(n - servers, 0) * theta
        logs.append(logs[-1] + math.log(arrival_rate / death))
        # past the servers the terms fall for good once deaths outgrow births
        if n > servers and death > arrival_rate and logs[-1] - max(logs) < math.log(_TAIL):
            break
    top = max(logs)
    weights = [math.exp(v - top) for v in logs]
    total = math.fsum(weights)
    p = [w / total for w in weights]
    wait = math.fsum(p[servers:])
    queue = math.fsum((k - servers) * p[k] for k in range(servers + 1, len(p)))
    abandon = theta * queue / arrival_rate
    return ErlangA(
        wait_probability=wait,
        abandon_probability=abandon,
        mean_queue=queue,
        mean_wait_seconds=queue / arrival_rate,
        occupancy=arrival_rate * (1 - abandon) / (servers * mu),
    )
