"""A fix for Beam 2.77's DaskRunner, applied only when that runner is used.

DaskRunner builds one receiver list per ParDo and passes the same object to
every Dask partition of it. When partitions run in one process (as they do
when a side input is computed inside a worker task), each partition's output
also holds the outputs of the partitions before it: seen here, counts read
through `AsDict` came out doubled and actors merged that should not be.
The wrapper gives each bundle its own copy of the DoFn invoker arguments and
receivers. It lives in this module so that Dask pickles it by reference and
workers import it too.
"""
import cloudpickle
from apache_beam.runners.dask import transform_evaluator

_original = transform_evaluator.apply_dofn_to_bundle


def apply_dofn_to_bundle(items, do_fn_invoker_args, do_fn_invoker_kwargs, tagged_receivers):
    # copied together, so the output handler inside the arguments still
    # points at the (now private) receivers
    do_fn_invoker_args, tagged_receivers = cloudpickle.loads(
        cloudpickle.dumps((do_fn_invoker_args, tagged_receivers)))
    return _original(items, do_fn_invoker_args, do_fn_invoker_kwargs, tagged_receivers)


def patch_dask_runner():
    transform_evaluator.apply_dofn_to_bundle = apply_dofn_to_bundle
