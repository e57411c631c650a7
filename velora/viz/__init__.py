"""Seeing a network: wiring statistics and every figure velora draws (the circuit and its masks,
a run's inputs and outputs, neuron activity, training loss curves), all saved one way
(``figures.save_figure``)."""
