"""Load scenarios, run by the local runner (the core's own connections in a child process) or
by Locust (a generated locustfile, a master and workers as subprocesses, its web API)."""

from core.load.plan import LoadPlan, make_plan
from core.load.scenario import Scenario, ScenarioError, find_scenario, load_scenario_file

__all__ = ["LoadPlan", "Scenario", "ScenarioError", "find_scenario", "load_scenario_file",
           "make_plan"]
