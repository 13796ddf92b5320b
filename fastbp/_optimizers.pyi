# Hand-written stub for the compiled module fastbp/_optimizers.pyx. Fused functions over
# C-contiguous 2-D arrays, all float32 or all float64, updated in place. No checks: use
# fastbp.optimizers instead.
from typing import Any

sgd: Any  # (param, grad, learning_rate)
sgd_momentum: Any  # (param, grad, momentums, learning_rate, momentum)
adagrad: Any  # (param, grad, cache, learning_rate, epsilon)
rmsprop: Any  # (param, grad, cache, learning_rate, epsilon, rho)
adam: Any  # (param, grad, momentums, cache, learning_rate, epsilon, beta_1, beta_2, c1, c2)
