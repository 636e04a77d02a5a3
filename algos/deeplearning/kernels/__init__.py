"""Deep Learning compute kernels: H2O's online SGD (ADADELTA, momentum, Nesterov) in Numba, pure compute on the
flat state of :class:`~algos.deeplearning.network.NetState` (no frames, no networking).

* :func:`train_rows`       per-sample online SGD exactly as H2O's ``Neurons.fprop/bprop`` (:mod:`.sgd`); with a
                           :class:`KernelTeam` every sample is trained by all threads together (:mod:`.team`).
* :func:`train_minibatch`  real mini-batches (H2O forces size 1): numpy BLAS forward/backward in float32, one
                           fused Numba update over the flat arrays (:mod:`.minibatch`, :mod:`.optimizers`);
                           :func:`train_batches` takes them from a :class:`BatchQueue`, which threads
                           training replicas share.
* :func:`forward`          scoring-time forward or a hidden layer's activations (deepfeatures) (:mod:`.forward`).
* :func:`dropout_mask`     the counter-based dropout RNG (:mod:`.dropout`).

By concern: :mod:`.activations` and :mod:`.losses` hold each Numba scalar function next to its numpy twin;
:mod:`.optimizers` the updates; :mod:`.checks` the entry points' argument checks; :mod:`.jit` the compile options.
Decisions where H2O has a QUIRK are listed in the module that makes them (docs/architecture.md, section 14, lists
them all).
"""
from .dropout import dropout_mask
from .forward import forward
from .minibatch import BatchQueue, RowSource, train_batches, train_minibatch, train_minibatches
from .sgd import train_rows
from .team import KernelTeam

__all__ = ["BatchQueue", "KernelTeam", "RowSource", "dropout_mask", "forward", "train_batches", "train_minibatch",
           "train_minibatches", "train_rows"]
