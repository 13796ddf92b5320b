"""The training step over arrays bound once: ``DenseStep``, one Dense (+ReLU) layer forward
and backward, and ``NetworkStep``, a whole step of layers, loss and optimizer updates.

Design
------
* The top of the compiled core, and the only module that uses all the others: the dense
  kernels of the build fastbp chose (through a kernel build's ``_kernel_table()`` capsule,
  ``_kernel_table.pxd``), the loss step (``_loss.pyx``) and the optimizer update
  (``_optimizers.pyx``). None of them imports this one.
* Compiled once, not per CPU build: it sequences kernels and holds locks and pointers; the
  arithmetic is all in the kernel table it is handed (``use_kernels``, at import, by
  fastbp/_validation.py).
* A DenseStep keeps its arrays alive and holds their data pointers and shapes, checked once
  when bound (``bind_forward``/``bind_backward``): dtype, C-contiguity, writeable outputs
  and every shape a kernel will index. One set of fields serves float32 and float64: the
  pointers are untyped and each call picks the kernel of its dtype with one test.
* ``fastbp.layers`` binds a layer's arrays once and calls ``forward()``/``backward()`` while
  they stay the same objects (fastbp/_snapshot.pyx tells it so): acquiring memoryviews, or
  checking nine arrays, costs as long as the arithmetic of the book's spiral layer.
"""

cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.math cimport NAN, pow

from fastbp._binding cimport data_of
from fastbp._calllock cimport CallLock
from fastbp._constants cimport MAX_NETWORK_LAYERS
from fastbp._kernel_table cimport (
    DONE_ALL,
    DONE_MASK,
    DONE_NOTHING,
    KERNEL_TABLE_NAME,
    KernelTable,
)
from fastbp._loss cimport SoftmaxCrossEntropyStep
from fastbp._optimizers cimport OPTIMIZER_ADAM, LayerUpdate

cnp.import_array()

# The kernel build DenseSteps are made with unless told otherwise.
cdef const KernelTable *_DEFAULT_KERNELS = NULL


def use_kernels(capsule):
    """Make new DenseSteps run the pointer kernels in ``capsule`` (a kernel build's
    ``_kernel_table()``); fastbp/_validation.py sets this at import."""
    global _DEFAULT_KERNELS
    _DEFAULT_KERNELS = _table(capsule)


cdef const KernelTable *_table(capsule) except NULL:
    return <const KernelTable *> PyCapsule_GetPointer(capsule, KERNEL_TABLE_NAME)


# --- One dense layer's step ------------------------------------------------------------------

cdef class DenseStep:
    """A Dense (+ReLU) layer's arrays, bound once, stepped forward and backward.

    Each method holds ``lock``, the layer's (fastbp/_calllock.pyx), while it binds or runs:
    another thread's call on the same layer waits, and never re-binds arrays that a kernel
    is using.
    """
    cdef bint f64, relu, bound_forward, bound_backward
    cdef const KernelTable *k
    cdef readonly CallLock lock
    # Counts the bind_* calls: a NetworkStep built on these bindings checks it is unchanged.
    cdef readonly unsigned long generation
    cdef Py_ssize_t n, nin, nout  # n_samples, n_inputs, n_neurons of the bound arrays
    # The bound arrays, kept alive here, and their data (NULL where empty; dz only with ReLU).
    cdef tuple forward_arrays, backward_arrays
    cdef void *x
    cdef void *w
    cdef void *b
    cdef void *out
    cdef void *dy
    cdef void *dz
    cdef void *dx
    cdef void *dw
    cdef void *db

    def __cinit__(self, bint float64, bint relu, CallLock lock=None, kernels=None):
        """float64 or float32; ReLU after the product or not; the layer's lock (a new one if
        None); a kernel build's ``_kernel_table()`` (None: the one of ``use_kernels``)."""
        self.k = _table(kernels) if kernels is not None else _DEFAULT_KERNELS
        if self.k is NULL:
            raise RuntimeError("DenseStep needs a kernel table: call use_kernels first")
        self.f64 = float64
        self.relu = relu
        self.lock = lock if lock is not None else CallLock()

    def bind_forward(self, inputs, weights, biases, out):
        """Hold (inputs, weights, biases, out) for ``forward``: 2-D, C-contiguous, of the
        step's dtype, of shapes (n, i), (i, o), (1, o), (n, o). A binding of other shapes
        drops the backward binding."""
        self.lock.take()
        try:
            self._bind_forward(inputs, weights, biases, out)
        finally:
            self.lock.give()

    cdef _bind_forward(self, inputs, weights, biases, out):
        cdef Py_ssize_t n, nin, nout
        if not (isinstance(inputs, cnp.ndarray) and inputs.ndim == 2
                and isinstance(weights, cnp.ndarray) and weights.ndim == 2):
            raise ValueError("inputs and weights must be 2-D numpy arrays")
        n, nin, nout = inputs.shape[0], inputs.shape[1], weights.shape[1]
        # Everything checked before anything changes: a refused binding leaves the old one.
        x = data_of(inputs, "inputs", self.f64, n, nin, False)
        w = data_of(weights, "weights", self.f64, nin, nout, False)
        b = data_of(biases, "biases", self.f64, 1, nout, False)
        o = data_of(out, "out", self.f64, n, nout, True)
        if (n, nin, nout) != (self.n, self.nin, self.nout):
            # The backward arrays no longer fit: a backward must bind its own again.
            self.bound_backward = False
            self.backward_arrays = None
            self.dy = self.dz = self.dx = self.dw = self.db = NULL
        self.forward_arrays = (inputs, weights, biases, out)
        self.x, self.w, self.b, self.out = x, w, b, o
        self.n, self.nin, self.nout = n, nin, nout
        self.bound_forward = True
        self.generation += 1

    def bind_backward(self, dvalues, dz, dinputs, dweights, dbiases):
        """Hold (dvalues, dz, dinputs, dweights, dbiases) for ``backward``, of the shapes of
        (out, out, inputs, weights, biases) bound by ``bind_forward``; dz only with ReLU."""
        self.lock.take()
        try:
            self._bind_backward(dvalues, dz, dinputs, dweights, dbiases)
        finally:
            self.lock.give()

    cdef _bind_backward(self, dvalues, dz, dinputs, dweights, dbiases):
        cdef Py_ssize_t n = self.n, nin = self.nin, nout = self.nout
        if not self.bound_forward:
            raise RuntimeError("DenseStep.bind_backward before bind_forward")
        dy = data_of(dvalues, "dvalues", self.f64, n, nout, False)
        z = data_of(dz, "dz", self.f64, n, nout, True) if self.relu else NULL
        dx = data_of(dinputs, "dinputs", self.f64, n, nin, True)
        dw = data_of(dweights, "dweights", self.f64, nin, nout, True)
        db = data_of(dbiases, "dbiases", self.f64, 1, nout, True)
        self.backward_arrays = (dvalues, dz, dinputs, dweights, dbiases)
        self.dy, self.dz, self.dx, self.dw, self.db = dy, z, dx, dw, db
        self.bound_backward = True
        self.generation += 1

    def forward(self):
        """out := inputs·weights + biases (then ReLU), on the bound arrays."""
        self.lock.take()
        try:
            self._check_bound(False)
            with nogil:
                self._forward()
        finally:
            self.lock.give()

    def backward(self, double weight_l1, double weight_l2, double bias_l1, double bias_l2):
        """dinputs, dweights, dbiases from dvalues, plus the L1/L2 terms, on the bound arrays."""
        self.lock.take()
        try:
            self._check_bound(True)
            with nogil:
                self._backward_parts(weight_l1, weight_l2, bias_l1, bias_l2, DONE_NOTHING,
                                     True)
        finally:
            self.lock.give()

    cdef int _check_bound(self, bint backward) except -1:
        # With the lock held: what another thread bound meanwhile is what runs.
        if not self.bound_forward:
            raise RuntimeError("DenseStep run before bind_forward")
        if backward and not self.bound_backward:
            raise ValueError(
                f"no backward arrays are bound for this layer's inputs of shape ({self.n}, "
                f"{self.nin}): a forward on inputs of another shape (perhaps from another "
                "thread) came after the last backward binding; call backward again")
        return 0

    cdef void _forward(self) noexcept nogil:
        if self.f64:
            self.k.dense_forward_d(<const double *> self.x, <const double *> self.w,
                                   <const double *> self.b, <double *> self.out,
                                   self.n, self.nin, self.nout, self.relu)
        else:
            self.k.dense_forward_f(<const float *> self.x, <const float *> self.w,
                                   <const float *> self.b, <float *> self.out,
                                   self.n, self.nin, self.nout, self.relu)

    cdef void _backward_parts(self, double weight_l1, double weight_l2, double bias_l1,
                              double bias_l2, int done, bint dinputs) noexcept nogil:
        # The backward step in the order of the book's layer (dense_backward_ptr), then the
        # regularization terms. NetworkStep may have done the mask and bias sums already
        # (done: DONE_MASK, from the fused kernel of the layer above), or all but the
        # regularization (DONE_ALL), or not need dX (dinputs false).
        cdef const void *output = self.out if self.relu else NULL
        cdef void *dx = self.dx if dinputs else NULL
        if done != DONE_ALL:
            if self.f64:
                self.k.dense_backward_d(<const double *> self.dy, <const double *> self.x,
                                        <const double *> self.w, <const double *> output,
                                        <double *> self.dz, <double *> dx,
                                        <double *> self.dw, <double *> self.db,
                                        self.n, self.nin, self.nout, done == DONE_MASK)
            else:
                self.k.dense_backward_f(<const float *> self.dy, <const float *> self.x,
                                        <const float *> self.w, <const float *> output,
                                        <float *> self.dz, <float *> dx,
                                        <float *> self.dw, <float *> self.db,
                                        self.n, self.nin, self.nout, done == DONE_MASK)
        self._regularize(self.w, self.dw, self.nin * self.nout, weight_l1, weight_l2)
        self._regularize(self.b, self.db, self.nout, bias_l1, bias_l2)

    cdef inline void _regularize(self, const void *param, void *grad, Py_ssize_t size,
                                 double l1, double l2) noexcept nogil:
        if l1 == 0 and l2 == 0:
            return
        if self.f64:
            self.k.regularization_grad_d(<const double *> param, <double *> grad, size, l1, l2)
        else:
            self.k.regularization_grad_f(<const float *> param, <float *> grad, size,
                                         <float> l1, <float> l2)

    cdef bint _thin_backward(self) noexcept nogil:
        return self.k.thin_backward_path(self.n, self.nin, self.nout, self.f64)

    cdef bint _thin_dinputs(self) noexcept nogil:
        return self.k.thin_dinputs_path(self.n, self.nin, self.nout)

    cdef bint _feeds_relu_mask_of(self, DenseStep below):
        """Whether below is a bound ReLU layer of the same dtype and kernels whose dvalues
        are this layer's dinputs array (the same memory): then NetworkStep may fuse them."""
        return (below.relu and below.f64 == self.f64 and below.k == self.k
                and below.bound_backward and self.bound_backward
                and self.dx != NULL and self.dx == below.dy
                and self.n == below.n and self.nin == below.nout)

    cdef int _dinputs_into_relu_mask(self, DenseStep below, bint below_dinputs) noexcept nogil:
        # This layer's dX straight into below's backward step; this layer's dinputs is not
        # written. Returns how much of below's step is done (see DONE_*): with 1-3 inputs
        # below, all of it (below's dX only if below_dinputs); else its mask into dz and its
        # bias sums (dinputs_into_relu_ptr).
        cdef const void *dz = self.dz if self.relu else self.dy
        cdef void *below_dx = below.dx if below_dinputs else NULL
        if self.f64:
            return self.k.dinputs_into_relu_d(
                <const double *> dz, <const double *> self.w, self.n, self.nin, self.nout,
                <const double *> below.out, <const double *> below.x,
                <const double *> below.w, <double *> below.dz, <double *> below_dx,
                <double *> below.dw, <double *> below.db, below.nin)
        return self.k.dinputs_into_relu_f(
            <const float *> dz, <const float *> self.w, self.n, self.nin, self.nout,
            <const float *> below.out, <const float *> below.x,
            <const float *> below.w, <float *> below.dz, <float *> below_dx,
            <float *> below.dw, <float *> below.db, below.nin)


# --- A whole training step -------------------------------------------------------------------

cdef class NetworkStep:
    """One training step of Dense/DenseReLU layers, softmax cross-entropy and an optimizer,
    with the GIL released once.

    Python between the steps of a layer-by-layer loop costs little on one thread, but with
    several threads each release and re-acquisition of the GIL hands it over, and on small
    layers the hand-overs can cost more than the kernels (docs/threads.md). Model.train
    runs its first step layer by layer, which validates and binds every array
    (DenseStep, SoftmaxCrossEntropyStep, LayerUpdate), then hands those bindings here.
    Nothing is checked here; the step is exactly the layer-by-layer one, in the same order.
    """
    cdef DenseStep l0, l1, l2, l3
    cdef LayerUpdate u0, u1, u2, u3
    cdef SoftmaxCrossEntropyStep loss
    # The locks of the layers, the loss and the updates, each once, by address: run holds
    # them all, taken in this one order (fastbp/_calllock.pyx).
    cdef tuple locks
    cdef int n_layers
    cdef double reg[MAX_NETWORK_LAYERS][4]
    # fuse[i]: layer i's dinputs feed the ReLU mask of layer i - 1 (_feeds_relu_mask_of).
    cdef bint fuse[MAX_NETWORK_LAYERS]
    # The generations of the bindings this step was built on (layers, then the loss).
    cdef unsigned long generations[MAX_NETWORK_LAYERS + 1]

    def __init__(self, layers, loss, updates, regularizers):
        """layers: DenseSteps, first to last; updates: their LayerUpdates; regularizers:
        (weight_l1, weight_l2, bias_l1, bias_l2) of each layer."""
        cdef int i, j
        cdef DenseStep layer
        n = len(layers)
        if not 1 <= n <= MAX_NETWORK_LAYERS or len(updates) != n or len(regularizers) != n:
            raise ValueError(f"NetworkStep takes 1 to {MAX_NETWORK_LAYERS} layers, each with "
                             "an update and its regularizers")
        layers = list(layers) + [None] * (MAX_NETWORK_LAYERS - n)
        updates = list(updates) + [None] * (MAX_NETWORK_LAYERS - n)
        if loss is None or any(x is None for x in layers[:n] + updates[:n]):
            raise ValueError("NetworkStep needs a loss, and a layer and an update per slot")
        if len({id(x) for x in layers[:n]}) != n:
            raise ValueError("a DenseStep holds one binding: each layer must be distinct")
        self.l0, self.l1, self.l2, self.l3 = layers
        self.u0, self.u1, self.u2, self.u3 = updates
        self.loss = loss
        self.n_layers = n
        for i in range(n):
            layer = <DenseStep> layers[i]
            if not (layer.bound_forward and layer.bound_backward):
                raise ValueError("every DenseStep must be bound")
            self.generations[i] = layer.generation
            for j in range(4):
                self.reg[i][j] = regularizers[i][j]
            self.fuse[i] = i > 0 and layer._feeds_relu_mask_of(layers[i - 1])
        self.generations[MAX_NETWORK_LAYERS] = self.loss.generation
        found = {id(self.loss.lock): self.loss.lock}
        for i in range(n):
            for lock in ((<DenseStep> layers[i]).lock, (<LayerUpdate> updates[i]).lock):
                found[id(lock)] = lock
        self.locks = tuple(found[key] for key in sorted(found))

    def valid(self):
        """False once any layer or the loss has bound other arrays since this step was built
        (e.g. a predict() run from a print hook): the step must then be built again."""
        cdef int i
        if self.loss.generation != self.generations[MAX_NETWORK_LAYERS]:
            return False
        for i in range(self.n_layers):
            if self._layer_generation(i) != self.generations[i]:
                return False
        return True

    cdef unsigned long _layer_generation(self, int i):
        if i == 0:
            return self.l0.generation
        if i == 1:
            return self.l1.generation
        if i == 2:
            return self.l2.generation
        return self.l3.generation

    def run(self, Py_ssize_t steps, int optimizer, double learning_rate, double decay,
            double current_learning_rate, Py_ssize_t iterations, double p1=0, double p2=0,
            double p3=0, *, bint full_last=True, counters=None):
        """``steps`` training steps in one call; return the last one's mean loss.

        Each step takes its learning rate and Adam's corrections the way the optimizer's
        pre_update_params() and fastbp.model compute them from ``iterations`` (the count
        before the first of these steps), with the same double arithmetic: the learning
        rate is ``learning_rate * (1 / (1 + decay·it))`` if decay is set, else
        ``current_learning_rate``; Adam's corrections are ``1 - beta**(it + 1)``. p1..p3
        are the optimizer's own parameters in the order of its LayerUpdate method (SGD
        momentum: momentum; Adagrad: epsilon; RMSprop: epsilon, rho; Adam: epsilon, beta_1,
        beta_2, and the corrections are computed here). The caller updates the optimizer's
        counters afterwards (fastbp.model._network_run).

        All but the last step, and the last one unless ``full_last``, are partial: they skip
        what no later step reads, the first layer's dinputs and the dinputs of a layer with
        1-3 neurons above a ReLU layer, which go straight into that layer's backward: its
        whole one-pass backward if it has 1-3 inputs, else its mask and bias sums
        (dinputs_into_relu_ptr in fastbp/_dense_kernels.pxi). A ReLU layer that itself takes
        the one-pass backward writes its dinputs instead (it stores no mask to feed). Those skipped arrays are then stale; every other array, and the
        parameters, are bit for bit those of full steps.

        ``counters`` (the optimizer, or None): its ``iterations`` and ``current_learning_rate``
        are set here, as the steps' pre_update_params/post_update_params leave them, before
        run returns to Python, where a KeyboardInterrupt could separate them from the weights.
        """
        cdef Py_ssize_t taken = 0
        if steps < 1 or iterations < 0:
            raise ValueError("run takes steps >= 1 and iterations >= 0")
        try:
            for lock in self.locks:
                (<CallLock> lock).take()
                taken += 1
            return self._run(steps, optimizer, learning_rate, decay, current_learning_rate,
                             iterations, p1, p2, p3, full_last, counters)
        finally:
            while taken:
                taken -= 1
                (<CallLock> self.locks[taken]).give()

    cdef _run(self, Py_ssize_t steps, int optimizer, double learning_rate, double decay,
              double current_learning_rate, Py_ssize_t iterations, double p1, double p2,
              double p3, bint full_last, counters):
        # run, with every lock held.
        cdef double loss = NAN
        cdef Py_ssize_t it
        cdef double lr = current_learning_rate, c1 = 0, c2 = 0
        if not self.valid():
            raise RuntimeError("a layer or the loss was bound to other arrays since this "
                               "NetworkStep was built")
        self._check_updates(optimizer)
        with nogil:
            for it in range(iterations, iterations + steps):
                if decay != 0:
                    lr = learning_rate * (1. / (1. + decay * <double> it))
                if optimizer == OPTIMIZER_ADAM:
                    # Python's float ** int converts the int and calls C's pow: the same.
                    c1 = 1 - pow(p2, <double> (it + 1))
                    c2 = 1 - pow(p3, <double> (it + 1))
                    loss = self._step(optimizer, lr, p1, p2, p3, c1, c2,
                                      full_last and it == iterations + steps - 1)
                else:
                    loss = self._step(optimizer, lr, p1, p2, p3, 0, 0,
                                      full_last and it == iterations + steps - 1)
        if counters is not None:
            counters.iterations = iterations + steps
            if decay != 0:
                counters.current_learning_rate = lr
        return loss

    cdef _check_updates(self, int optimizer):
        # Each update must have the state arrays this optimizer reads (else it would read
        # through a NULL pointer): checked with the GIL, before anything runs.
        self.u0.check(optimizer)
        if self.n_layers > 1:
            self.u1.check(optimizer)
        if self.n_layers > 2:
            self.u2.check(optimizer)
        if self.n_layers > 3:
            self.u3.check(optimizer)

    cdef int _backward_layer(self, DenseStep layer, DenseStep below, int i, int done,
                             bint full) noexcept nogil:
        # Layer i's backward (below is layer i - 1, unused for i = 0), after ``done`` of it
        # was done by the layer above. Returns how much of below's step it also did.
        # A ReLU layer on the thin backward path leaves its dz unwritten, and the fused
        # kernels read it: such a layer writes its dX instead.
        cdef bint fused = (not full and self.fuse[i] and layer._thin_dinputs()
                           and not (layer.relu and layer._thin_backward()))
        layer._backward_parts(self.reg[i][0], self.reg[i][1], self.reg[i][2], self.reg[i][3],
                              done, full or (i > 0 and not fused))
        if fused:
            # below's dX is read only by the layer below it (never by a fused kernel: those
            # read dz), and the first layer's is not needed before the last step.
            return layer._dinputs_into_relu_mask(below, i - 1 > 0)
        return DONE_NOTHING

    cdef double _step(self, int optimizer, double lr, double p1, double p2, double p3,
                      double p4, double p5, bint full) noexcept nogil:
        # Unrolled over the four layer slots: an attribute can be used without the GIL, a
        # list of layers cannot.
        cdef int n = self.n_layers
        cdef double loss
        cdef int done = DONE_NOTHING  # how much of the next layer's step is done
        self.l0._forward()
        if n > 1:
            self.l1._forward()
        if n > 2:
            self.l2._forward()
        if n > 3:
            self.l3._forward()
        loss = self.loss._forward()
        self.loss._backward()
        if n > 3:
            done = self._backward_layer(self.l3, self.l2, 3, DONE_NOTHING, full)
        if n > 2:
            done = self._backward_layer(self.l2, self.l1, 2, done, full)
        if n > 1:
            done = self._backward_layer(self.l1, self.l0, 1, done, full)
        self._backward_layer(self.l0, self.l0, 0, done, full)
        self.u0._apply(optimizer, lr, p1, p2, p3, p4, p5)
        if n > 1:
            self.u1._apply(optimizer, lr, p1, p2, p3, p4, p5)
        if n > 2:
            self.u2._apply(optimizer, lr, p1, p2, p3, p4, p5)
        if n > 3:
            self.u3._apply(optimizer, lr, p1, p2, p3, p4, p5)
        return loss
