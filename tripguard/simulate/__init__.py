"""Trip simulator: realistic Porto trips with labelled fraud and real GPS noise (contract v1).

Entry point: `tripguard.simulate.simulator.simulate(SimConfig(...))`, or `tripguard simulate`.
"""
