# Part of fastbp/_kernels.pyx, which includes it after its cimports.
# ``NetworkStep``: a whole training step of bound layers, loss and updates, in one call.

# --- A whole training step over bound arrays ---------------------------------------------------

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
            if not (<DenseStep> layers[i]).bound_forward or not (<DenseStep> layers[i]).bound_backward:
                raise ValueError("every DenseStep must be bound")
            self.generations[i] = (<DenseStep> layers[i]).generation
            for j in range(4):
                self.reg[i][j] = regularizers[i][j]
            self.fuse[i] = i > 0 and (<DenseStep> layers[i])._feeds_relu_mask_of(layers[i - 1])
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
        whole one-pass backward if it has 1-3 inputs (thin_dinputs_thin_backward_kernel),
        else its mask and bias sums (thin_dinputs_relu_mask_column_sums_kernel). A ReLU layer
        that itself takes the one-pass backward writes its dinputs instead (it stores no
        mask to feed). Those skipped arrays are then stale; every other array, and the
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
        # an unbound memoryview): checked with the GIL, before anything runs.
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
