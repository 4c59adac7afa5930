"""Deterministic simulator: many ZRE node cores on a virtual clock and network (spec/zre.md#simulator)."""

from .network import Conn, SimNode, Simulation
from .tester import Tester, TesterReport, run_tester

__all__ = ["Conn", "SimNode", "Simulation", "Tester", "TesterReport", "run_tester"]
