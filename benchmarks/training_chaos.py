"""Why fastbp's and the reference's 10,000-epoch losses cannot agree to 1e-6.

``python benchmarks/training_chaos.py`` trains the numpy reference (fastbp.reference, the
book's code) on the chapter-10 network twice per optimizer: once from its initial weights,
once with every first-layer weight moved by one ulp (np.nextafter). If the reference does
not agree with itself to 1e-6 after such a change, no implementation whose rounding differs
from it anywhere (another BLAS, another order of a sum) can; agreement is therefore tested
segment by segment instead (tests/test_training.py).
"""

import numpy as np
from threadpoolctl import threadpool_limits

from fastbp import reference as R
from fastbp import train as demo
from fastbp.datasets import spiral_data


def main(epochs=10000):
    X, y = spiral_data(100, 3, rng=0)
    print(f"numpy reference, chapter-10 network, {epochs} epochs, float64, 1 BLAS thread")
    print(f"{'optimizer':10} {'loss':>10} {'loss, +1 ulp':>13} {'relative difference':>20}")
    with threadpool_limits(1, user_api="blas"):
        for name in sorted(demo.OPTIMIZERS):
            _, ref_cls, params = demo.OPTIMIZERS[name]
            losses = []
            for nudge in (False, True):
                rng = np.random.default_rng(0)  # the demo's initial weights (seed 0)
                dense1 = R.Layer_Dense(2, 64, rng=rng)
                dense2 = R.Layer_Dense(64, 3, rng=rng)
                if nudge:
                    dense1.weights[:] = np.nextafter(dense1.weights, np.inf)
                result = R.train_spiral(X, y, optimizer=ref_cls(**params), epochs=epochs,
                                        layers=(dense1, dense2))
                losses.append(result["loss"])
            difference = abs(losses[1] - losses[0]) / losses[0]
            print(f"{name:10} {losses[0]:10.6f} {losses[1]:13.6f} {difference:20.1e}",
                  flush=True)


if __name__ == "__main__":
    main()
