#!/usr/bin/env python3
"""Converts the FID Inception-v3 (the 2015-12-05 TensorFlow graph that TTUR and pytorch-fid use)
into the TensorFlow.js graph model that `analysis.fid` in pipelines/vtab-full.yaml loads.

    python3 scripts/inception-to-tfjs.py [--graph inception-2015-12-05.tgz] [--out models/inception-v3-tfjs]

What it does (docs/vtab-full.md, "The FID network"):
  1. reads classify_image_graph_def.pb (from the .tgz, downloaded unless --graph is given);
  2. replaces the graph's deprecated BatchNormWithGlobalNormalization nodes (TensorFlow.js has
     no kernel for them, and current TensorFlow refuses them in new GraphDefs) by the same
     arithmetic, x * scale + offset, with scale and offset computed from the node's constants;
  3. drops recorded `_output_shapes` and device pins, then imports the graph with its
     preprocessed input `Mul:0` (1x299x299x3, (x - 128) / 128 of the resized image; the script
     prints the graph's own constants) replaced by a batched placeholder `images`
     [None, 299, 299, 3] through input_map, so every shape below it is re-inferred with a free
     batch dimension (the batch-size-1 static shapes that TTUR's _get_inception_layer patches);
  4. fetches `pool_3:0`, reshapes it to [N, 2048], keeps only that sub-graph (no JPEG decoder,
     no resize, no softmax head), checks it on a batch of 3 against single images and against
     the unmodified graph, and writes a SavedModel (signature serving_default: images -> pool_3);
  5. runs tensorflowjs_converter --input_format=tf_saved_model into --out and checks model.json.

Needs TensorFlow 2.x (tf.compat.v1) and the `tensorflowjs` pip package; see docs/vtab-full.md for
the versions. The pipeline feeds the model [N, 299, 299, 3] float32 in [-1, 1] (its defaults
`inputSize: [299, 299]`, `inputRange: [-1, 1]`) and reads the first output.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

URL = 'http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz'
GRAPH_FILE = 'classify_image_graph_def.pb'
INPUT_TENSOR = 'Mul:0'      # after DecodeJpeg -> Cast -> ExpandDims -> ResizeBilinear -> Sub -> Mul
OUTPUT_TENSOR = 'pool_3:0'  # [N, 1, 1, 2048] average pool, the FID feature
SIZE = 299
WIDTH = 2048


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--graph', help=f'{GRAPH_FILE} or the .tgz holding it (default: download {URL})')
    p.add_argument('--out', default='models/inception-v3-tfjs', help='TensorFlow.js model folder to write (default: %(default)s, the path vtab-full.yaml expects)')
    p.add_argument('--saved-model', help='where to keep the intermediate SavedModel (default: a temporary folder)')
    p.add_argument('--force', action='store_true', help='replace --out (and --saved-model) if they exist')
    p.add_argument('--skip-reference-check', action='store_true', help='do not compare with the unmodified graph')
    return p.parse_args()


def fail(message):
    sys.exit(f'inception-to-tfjs: {message}')


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def locate_graph(arg, tmp):
    """The path of classify_image_graph_def.pb: given, inside a given .tgz, or downloaded."""
    if arg and not arg.endswith(('.tgz', '.tar.gz')):
        return arg
    tgz = arg
    if not tgz:
        tgz = os.path.join(tmp, os.path.basename(URL))
        print(f'downloading {URL}')
        urllib.request.urlretrieve(URL, tgz)
    print(f'{tgz}: sha256 {sha256(tgz)}')
    with tarfile.open(tgz, 'r:gz') as tar:
        member = next((m for m in tar.getmembers() if os.path.basename(m.name) == GRAPH_FILE), None)
        if member is None:
            fail(f'{tgz} holds no {GRAPH_FILE}')
        with tar.extractfile(member) as src, open(os.path.join(tmp, GRAPH_FILE), 'wb') as dst:
            shutil.copyfileobj(src, dst)
    return os.path.join(tmp, GRAPH_FILE)


def base_name(tensor_or_node):
    """'a:0' -> 'a', '^a' -> 'a'."""
    return tensor_or_node.lstrip('^').split(':')[0]


def fold_old_batch_norms(tf, np, graph_def):
    """BatchNormWithGlobalNormalization(t, mean, var, beta, gamma) -> BiasAdd(Mul(t, scale), offset).

    y = (t - mean) / sqrt(var + eps) * gamma + beta  (gamma only when scale_after_normalization)
      = t * scale + offset,  scale = gamma / sqrt(var + eps),  offset = beta - mean * scale.
    The BiasAdd keeps the batch-norm node's name, so its consumers are untouched.
    """
    nodes = {n.name: n for n in graph_def.node}

    def constant(tensor_name):
        n = nodes[base_name(tensor_name)]
        while n.op == 'Identity':
            n = nodes[base_name(n.input[0])]
        if n.op != 'Const':
            fail(f'{tensor_name}: expected a constant, found a {n.op} node')
        return tf.make_ndarray(n.attr['value'].tensor).astype(np.float64)

    def const_node(name, value):
        n = tf.compat.v1.NodeDef(name=name, op='Const')
        n.attr['dtype'].type = tf.float32.as_datatype_enum
        n.attr['value'].tensor.CopyFrom(tf.make_tensor_proto(value.astype(np.float32)))
        return n

    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    folded = 0
    for n in graph_def.node:
        if n.op != 'BatchNormWithGlobalNormalization':
            out.node.add().CopyFrom(n)
            continue
        data = [i for i in n.input if not i.startswith('^')]
        controls = [i for i in n.input if i.startswith('^')]
        if len(data) != 5:
            fail(f'{n.name}: expected 5 inputs, found {len(data)}')
        t, mean, var, beta, gamma = data
        mean, var, beta, gamma = (constant(x) for x in (mean, var, beta, gamma))
        if not (mean.ndim == var.ndim == beta.ndim == gamma.ndim == 1) or len({mean.size, var.size, beta.size, gamma.size}) != 1:
            fail(f'{n.name}: batch-norm parameters are not vectors of one length')
        scale = 1.0 / np.sqrt(var + n.attr['variance_epsilon'].f)
        if n.attr['scale_after_normalization'].b:
            scale = scale * gamma
        offset = beta - mean * scale
        out.node.add().CopyFrom(const_node(f'{n.name}/folded_scale', scale))
        out.node.add().CopyFrom(const_node(f'{n.name}/folded_offset', offset))
        mul = out.node.add()
        mul.name, mul.op = f'{n.name}/folded_mul', 'Mul'
        mul.input.extend([t, f'{n.name}/folded_scale'])
        mul.attr['T'].type = tf.float32.as_datatype_enum
        add = out.node.add()
        add.name, add.op = n.name, 'BiasAdd'
        add.input.extend([mul.name, f'{n.name}/folded_offset', *controls])
        add.attr['T'].type = tf.float32.as_datatype_enum
        add.attr['data_format'].s = b'NHWC'
        folded += 1
    for n in out.node:
        n.device = ''  # no pinned devices: the SavedModel and the converter see a plain graph
        if '_output_shapes' in n.attr:
            del n.attr['_output_shapes']
    return out, folded


def report_preprocessing(tf, graph_def):
    """Prints the constants of the graph's own Sub and Mul (what Mul:0 holds), for the record."""
    nodes = {n.name: n for n in graph_def.node}
    found = {}
    for op in ('Sub', 'Mul'):
        n = nodes.get(op)
        for i in (n.input if n is not None else []):
            c = nodes.get(base_name(i))
            if c is not None and c.op == 'Const':
                found[op] = tf.make_ndarray(c.attr['value'].tensor).ravel().tolist()
    if len(found) == 2:
        print(f'{INPUT_TENSOR} holds (x - {found["Sub"]}) * {found["Mul"]} of the resized 0..255 image; the pipeline feeds x01 * 2 - 1')
    else:
        print(f'note: could not read the Sub/Mul constants in front of {INPUT_TENSOR}')


def build_features_graph(tf, graph_def):
    """A GraphDef holding only images [None,299,299,3] -> ... -> features [None, 2048]."""
    g = tf.Graph()
    with g.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [None, SIZE, SIZE, 3], name='images')
        (pool3,) = tf.compat.v1.import_graph_def(graph_def, input_map={INPUT_TENSOR: images}, return_elements=[OUTPUT_TENSOR], name='inception')
        shape = pool3.shape.as_list() if pool3.shape.rank is not None else None
        if shape != [None, 1, 1, WIDTH]:
            fail(f'{OUTPUT_TENSOR} has static shape {shape}, expected [None, 1, 1, {WIDTH}] (is the batch dimension still fixed to 1?)')
        tf.reshape(pool3, [-1, WIDTH], name='features')
    sub = tf.compat.v1.graph_util.extract_sub_graph(g.as_graph_def(), ['features'])
    ops = {n.op for n in sub.node}
    for bad in ('DecodeJpeg', 'ResizeBilinear', 'BatchNormWithGlobalNormalization', 'Softmax'):
        if bad in ops:
            fail(f'the extracted graph still holds a {bad} node')
    return sub, sorted(ops)


def check_features(tf, np, sub, original, skip_reference):
    """Batch of 3 == 3 single images; [3, 2048]; finite, >= 0; close to the unmodified graph."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, size=(3, SIZE, SIZE, 3)).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(sub, name='')
    with tf.compat.v1.Session(graph=g) as sess:
        batch = sess.run('features:0', {'images:0': x})
        single = np.concatenate([sess.run('features:0', {'images:0': x[i:i + 1]}) for i in range(3)])
    if batch.shape != (3, WIDTH):
        fail(f'features have shape {batch.shape}, expected (3, {WIDTH})')
    if not np.all(np.isfinite(batch)) or batch.min() < 0:
        fail('features are not finite and non-negative (pool_3 follows a ReLU)')
    gap = float(np.max(np.abs(batch - single)))
    print(f'batch of 3 vs one at a time: max |diff| {gap:.3g}')
    if gap > 1e-4 * max(1.0, float(np.abs(single).max())):
        fail('a batched image gives other features than the same image alone')
    if skip_reference:
        return
    try:
        r = tf.Graph()
        with r.as_default():
            tf.compat.v1.import_graph_def(original, name='ref')
        with tf.compat.v1.Session(graph=r) as sess:
            ref = sess.run(f'ref/{OUTPUT_TENSOR}', {f'ref/{INPUT_TENSOR}': x[:1]}).reshape(1, WIDTH)
    except Exception as e:  # noqa: BLE001 - the old op may be refused by this TensorFlow
        print(f'reference check skipped: the unmodified graph does not run here ({type(e).__name__}: {str(e).splitlines()[0]})')
        return
    diff = float(np.max(np.abs(ref - single[:1])))
    print(f'rewritten vs unmodified graph: max |diff| {diff:.3g} (max |feature| {float(np.abs(ref).max()):.3g})')
    if diff > 1e-3 * max(1.0, float(np.abs(ref).max())):
        fail('the rewritten graph does not reproduce the unmodified one')


def save_saved_model(tf, sub, path):
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(sub, name='')
        images = g.get_tensor_by_name('images:0')
        features = g.get_tensor_by_name('features:0')
        signature = tf.compat.v1.saved_model.predict_signature_def(inputs={'images': images}, outputs={'pool_3': features})
        with tf.compat.v1.Session(graph=g) as sess:
            builder = tf.compat.v1.saved_model.Builder(path)
            builder.add_meta_graph_and_variables(sess, ['serve'], signature_def_map={'serving_default': signature}, strip_default_attrs=True)
            builder.save()


def convert(saved_model, out):
    exe = shutil.which('tensorflowjs_converter')
    if exe is None:
        fail('tensorflowjs_converter is not on PATH (pip install tensorflowjs, see docs/vtab-full.md)')
    cmd = [exe, '--input_format=tf_saved_model', '--output_format=tfjs_graph_model',
           '--signature_name=serving_default', '--saved_model_tags=serve', saved_model, out]
    print('+ ' + ' '.join(cmd))
    subprocess.run(cmd, check=True)


def dims(tensor_info):
    return [int(d.get('size', -1)) for d in tensor_info.get('tensorShape', {}).get('dim', [])]


def check_model_json(out):
    path = os.path.join(out, 'model.json')
    with open(path) as f:
        model = json.load(f)
    if model.get('format') != 'graph-model':
        fail(f'{path}: format is {model.get("format")!r}, expected "graph-model"')
    missing = [p for group in model.get('weightsManifest', []) for p in group['paths'] if not os.path.isfile(os.path.join(out, p))]
    if missing:
        fail(f'{path}: weight files missing: {", ".join(missing)}')
    sig = model.get('signature', {})
    inputs, outputs = sig.get('inputs', {}), sig.get('outputs', {})
    if len(inputs) != 1 or len(outputs) != 1:
        fail(f'{path}: expected one input and one output, found {list(inputs)} -> {list(outputs)}')
    (i,), (o,) = inputs.values(), outputs.values()
    if dims(i) not in ([-1, SIZE, SIZE, 3], []) or dims(o) not in ([-1, WIDTH], []):
        fail(f'{path}: signature {dims(i)} -> {dims(o)}, expected [-1, {SIZE}, {SIZE}, 3] -> [-1, {WIDTH}]')
    manifest = model.get('weightsManifest', [])
    shards = sum(len(g['paths']) for g in manifest)
    size = sum(os.path.getsize(os.path.join(out, p)) for g in manifest for p in g['paths'])
    print(f'{path}: {i.get("name")} {dims(i) or "(shape not recorded)"} -> {o.get("name")} {dims(o) or "(shape not recorded)"}, '
          f'{shards} weight files, {size / 2**20:.1f} MiB')


def prepare_dir(path, force):
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        if not force:
            fail(f'{path} exists; pass --force to replace it')
        shutil.rmtree(path)


def main():
    args = parse_args()
    # TensorFlow is imported only now, so --help works without it.
    import numpy as np
    import tensorflow as tf
    if not tf.__version__.startswith('2.'):
        fail(f'needs TensorFlow 2.x, found {tf.__version__}')
    prepare_dir(args.out, args.force)
    if args.saved_model:
        prepare_dir(args.saved_model, args.force)
    with tempfile.TemporaryDirectory(prefix='inception-to-tfjs-') as tmp:
        graph_path = locate_graph(args.graph, tmp)
        print(f'{graph_path}: sha256 {sha256(graph_path)}')
        original = tf.compat.v1.GraphDef()
        with open(graph_path, 'rb') as f:
            original.ParseFromString(f.read())
        names = {n.name for n in original.node}
        for t in (INPUT_TENSOR, OUTPUT_TENSOR):
            if base_name(t) not in names:
                fail(f'{graph_path} has no node {base_name(t)}: not the 2015-12-05 Inception graph')
        report_preprocessing(tf, original)
        rewritten, folded = fold_old_batch_norms(tf, np, original)
        print(f'replaced {folded} BatchNormWithGlobalNormalization nodes')
        sub, ops = build_features_graph(tf, rewritten)
        print(f'feature graph: {len(sub.node)} nodes, ops {", ".join(ops)}')
        check_features(tf, np, sub, original, args.skip_reference_check)
        saved = args.saved_model or os.path.join(tmp, 'saved_model')
        if os.path.isdir(saved):
            os.rmdir(saved)  # empty (prepare_dir); the builder wants to create it
        save_saved_model(tf, sub, saved)
        print(f'SavedModel written to {saved}')
        convert(saved, args.out)
    check_model_json(args.out)
    print('done: the FID stage reads model.json from there (params.inception in pipelines/vtab-full.yaml)')


if __name__ == '__main__':
    main()
