"""Graph sources: file formats, generator families and named graphs.

Adding a format or a family is one module plus one line here. A format module has
`FORMAT`, `sniff(data) -> bool` and `parse(data, name, origin) -> Graph`. A generator
module has `FAMILY`, `DESCRIPTION`, `PARAMS` (a tuple of moccasin_bench.params.Param)
and `generate(**params) -> Graph`.
"""

# File formats, tried in this order on a JSON document.
FORMATS = {
    "native": "moccasin_bench.native",
    "node-link": "graphs.nodelink",
}

# Generator families: name -> module.
GENERATORS = {
    "random-layered": "graphs.random_layered",
    "linear": "graphs.linear",
    "unet": "graphs.unet",
    "transformer": "graphs.transformer",
}
