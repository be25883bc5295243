"""The threshold search on JAX: `jax.jit` of the whole loop, `lax.reduce` counts."""

import jax
import jax.numpy as jnp

from keras_slt.selection.bracket import combine, keys_fn, kth_key, merge, variadic_terms

_compiled = {}


def count_variadic(keys, probes):
    """`bracket.count_generic`'s result, one `jax.lax.reduce` per tensor."""

    def where(c, x, y):
        return jnp.where(c, x, y).astype(jnp.int32)

    per_tensor = []
    for key in keys:
        terms, inits = variadic_terms(key, probes, where)
        per_tensor.append(
            jax.lax.reduce(
                tuple(terms),
                tuple(jnp.int32(i) for i in inits),
                lambda a, b: combine(a, b, jnp.minimum, jnp.maximum),
                (0,),
            )
        )
    return merge(per_tensor)


def compiled_search(make_keys, values, masks, k, num_free, hint, count):
    """`bracket.kth_key` over the keys `make_keys` forms, as one jitted call."""
    fn = _compiled.get((make_keys, count))
    if fn is None:

        def run(values, masks, hint, k, num_free):
            return kth_key(keys_fn(make_keys, values, masks), k, num_free, hint, count)

        # jax.jit caches one compilation per shapes.
        fn = _compiled[(make_keys, count)] = jax.jit(run)
    values = [getattr(v, "value", v) for v in values]
    masks = [getattr(m, "value", m) for m in masks]  # None stays None
    return fn(values, masks, hint, k, num_free)
