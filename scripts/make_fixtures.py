#!/usr/bin/python3
"""Regenerates the PyTorch reference fixtures under test/fixtures/torch/.

Each case is a folder with a model file (model.mlp.json), its data (data.csv), its initial
parameters (init.safetensors, written as PyTorch names them for an nn.Sequential) and the
expected events (expected.jsonl): the per-step statistics of the Layerwise event schema,
computed here independently with PyTorch autograd and torch.optim.

Needs Debian's python3-torch (1.13): run with /usr/bin/python3 (npm run fixtures). npm run fixtures
preloads the reference BLAS (libblas3) when it is there, as the committed fixtures were made: with
OpenBLAS the synthetic targets and every expected value move by float32 rounding (~1e-7).
"""
import json
import math
import os
import shutil
import struct
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'torch')


def write_safetensors(path, tensors):
    """tensors: list of (name, tensor); writes F32 or F64 as the tensor's dtype."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        t = t.detach().contiguous()
        dt = {torch.float32: 'F32', torch.float64: 'F64', torch.float16: 'F16', torch.bfloat16: 'BF16'}[t.dtype]
        raw = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {'dtype': dt, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header['__metadata__'] = {'format': 'pt'}
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def activation(name, alpha):
    if name == 'linear':
        return lambda z: z
    if name == 'relu':
        return F.relu
    if name == 'leaky_relu':
        return lambda z: F.leaky_relu(z, alpha)
    if name == 'tanh':
        return torch.tanh
    if name == 'sigmoid':
        return torch.sigmoid
    if name == 'elu':
        return lambda z: F.elu(z, alpha)
    if name == 'gelu':
        return F.gelu
    if name == 'silu':
        return F.silu
    if name == 'selu':
        return F.selu
    raise ValueError(name)


def mean_var(t):
    t = t.detach().double()
    return {'mean': t.mean().item(), 'var': t.var(unbiased=False).item()}


def first_nonfinite(zs, acts, loss, grads_dz):
    for i, (z, a) in enumerate(zip(zs, acts)):
        if not torch.isfinite(z).all():
            return i
        if not torch.isfinite(a).all():
            return i
    if not math.isfinite(loss):
        return len(zs) - 1
    for i in reversed(range(len(grads_dz))):
        if grads_dz[i] is not None and not torch.isfinite(grads_dz[i]).all():
            return i
    return None


def run_case(name, c):
    folder = os.path.join(ROOT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    dtype = torch.float64 if c.get('dtype') == 'float64' else torch.float32
    torch.manual_seed(c['seed'])
    g = torch.Generator().manual_seed(c['seed'])
    n, d = c['samples'], c['input']
    layers = c['layers']
    outputs = layers[-1]['units']
    x = (torch.randn(n, d, generator=g) * c.get('inputStd', 1.0)).to(dtype)
    if c['loss'] == 'cross_entropy':
        teacher = torch.randn(d, outputs, generator=g)
        y = (x.float() @ teacher).argmax(1)
    else:
        teacher = torch.randn(d, 1, generator=g)
        y = torch.tanh(x.float() @ teacher / math.sqrt(d)).to(dtype)
    # CSV: features x0..x{d-1} and the target, which may stand in any column.
    tcol = c.get('targetColumn', d)
    cols = [f'x{j}' for j in range(d)]
    cols.insert(tcol, 'label')
    with open(os.path.join(folder, 'data.csv'), 'w', newline='\n') as f:
        f.write(','.join(cols) + '\n')
        for i in range(n):
            vals = [repr(float(v)) for v in x[i].tolist()]
            tv = str(int(y[i])) if c['loss'] == 'cross_entropy' else repr(float(y[i]))
            vals.insert(tcol, tv)
            f.write(','.join(vals) + '\n')
    # Parameters: Linear layers inside an nn.Sequential (activations take indices too).
    params, names, fan_in, idx = [], [], d, 0
    for li, l in enumerate(layers):
        lin = torch.nn.Linear(fan_in, l['units']).to(dtype)
        with torch.no_grad():
            scheme = l.get('init', 'default')
            if scheme == 'he_normal':
                lin.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
            elif scheme == 'lecun_normal':
                lin.weight.normal_(0.0, math.sqrt(1.0 / fan_in))
            elif scheme == 'xavier_uniform':
                bound = math.sqrt(6.0 / (fan_in + l['units']))
                lin.weight.uniform_(-bound, bound)
            if 'bias' in l:
                lin.bias.fill_(l['bias'])
            if 'weightScale' in c:
                lin.weight.mul_(c['weightScale'])
        prefix = c.get('prefix', 'net.')
        names.append((f'{prefix}{idx}.weight', f'{prefix}{idx}.bias'))
        params.append(lin)
        idx += 1 if l['activation'] == 'linear' and li == len(layers) - 1 else 2
        fan_in = l['units']
    wdt = torch.float64 if c.get('weightsDtype') == 'F64' else dtype
    tensors = []
    order = list(range(len(params)))
    if c.get('shuffleTensorOrder'):
        order = order[::-1]
    for i in order:
        tensors.append((names[i][0], params[i].weight.to(wdt)))
        tensors.append((names[i][1], params[i].bias.to(wdt)))
    write_safetensors(os.path.join(folder, 'init.safetensors'), tensors)

    tr = c['training']
    plist = [p for lin in params for p in (lin.weight, lin.bias)]
    if tr['optimizer'] == 'sgd':
        opt = torch.optim.SGD(plist, lr=tr['learningRate'])
    elif tr['optimizer'] == 'momentum':
        opt = torch.optim.SGD(plist, lr=tr['learningRate'], momentum=tr.get('momentum', 0.9))
    else:
        opt = torch.optim.Adam(plist, lr=tr['learningRate'], betas=(tr.get('beta1', 0.9), tr.get('beta2', 0.999)), eps=tr.get('eps', 1e-8))
    bs = n if tr['batchSize'] == 'full' else min(tr['batchSize'], n)
    nb = math.ceil(n / bs)
    acts = [activation(l['activation'], l.get('alpha', 0.01 if l['activation'] == 'leaky_relu' else 1.0)) for l in layers]
    clip = tr.get('clip')
    events = []
    end_reason, steps_done = 'completed', 0
    for k in range(tr['steps']):
        j = k % nb
        xb = x[j * bs:min((j + 1) * bs, n)]
        yb = y[j * bs:min((j + 1) * bs, n)]
        zs, az = [], []
        h = xb
        for lin, f in zip(params, acts):
            z = lin(h)
            z.retain_grad()
            a = f(z)
            zs.append(z)
            az.append(a)
            h = a
        out = az[-1]
        loss = F.cross_entropy(out, yb) if c['loss'] == 'cross_entropy' else F.mse_loss(out, yb.view(-1, 1))
        opt.zero_grad()
        if torch.isfinite(loss):
            loss.backward()
        bad = first_nonfinite(zs, az, loss.item(), [z.grad for z in zs])
        if bad is None:
            bad_g = [i for i, lin in enumerate(params) if not (torch.isfinite(lin.weight.grad).all() and torch.isfinite(lin.bias.grad).all())]
            bad = bad_g[-1] if bad_g else None
        if bad is not None:
            events.append({'type': 'warning', 'code': 'non_finite', 'layer': bad, 'step': k})
            end_reason = 'non_finite'
            break
        layer_stats = []
        for i, (lin, z, a, l) in enumerate(zip(params, zs, az, layers)):
            dead = None
            if l['activation'] == 'relu':
                dead = int((z <= 0).all(0).sum().item())
            elif l['activation'] == 'leaky_relu':
                dead = int((z < 0).all(0).sum().item())
            gw = lin.weight.grad.detach().double()
            layer_stats.append({
                'index': i, 'preact': mean_var(z), 'act': mean_var(a), 'grad': mean_var(z.grad), 'dead': dead,
                'weight': mean_var(lin.weight),
                'weightGrad': {'norm': gw.norm().item(), 'var': gw.var(unbiased=False).item()},
                'biasGrad': {'norm': lin.bias.grad.detach().double().norm().item()},
            })
        grads = [p.grad for p in plist]
        gnorm = math.sqrt(sum((g_.double() ** 2).sum().item() for g_ in grads))
        clipped = False
        if clip and clip['mode'] == 'norm':
            total = float(torch.nn.utils.clip_grad_norm_(plist, clip['max']))
            clipped = clip['max'] / (total + 1e-6) < 1
        elif clip and clip['mode'] == 'value':
            clipped = any((g_.abs() > clip['max']).any().item() for g_ in grads)
            for g_ in grads:
                g_.clamp_(-clip['max'], clip['max'])
        gnorm_after = math.sqrt(sum((g_.double() ** 2).sum().item() for g_ in grads))
        before = [lin.weight.detach().clone() for lin in params]
        opt.step()
        for i, lin in enumerate(params):
            dw = (lin.weight.detach() - before[i]).double().norm().item()
            layer_stats[i]['updateRatio'] = dw / before[i].double().norm().item()
        events.append({'type': 'step', 'step': k, 'loss': loss.item(), 'gradNorm': gnorm,
                       'gradNormClipped': gnorm_after, 'clipped': clipped, 'layers': layer_stats})
        steps_done = k + 1
    events.append({'type': 'end', 'steps': steps_done, 'reason': end_reason})

    model = {'name': name, 'seed': 7}
    if c.get('dtype'):
        model['dtype'] = c['dtype']
    model['input'] = {'size': d}
    model['layers'] = []
    for l in layers:
        ml = {'units': l['units'], 'activation': l['activation']}
        if 'alpha' in l:
            ml['alpha'] = l['alpha']
        model['layers'].append(ml)
    model['loss'] = c['loss']
    data = {'source': 'csv', 'path': 'data.csv'}
    if tcol != d:
        data['target'] = 'label'
    model['data'] = data
    mt = {k_: v for k_, v in tr.items()}
    mt['shuffle'] = False
    model['training'] = mt
    model['weights'] = 'init.safetensors'
    with open(os.path.join(folder, 'model.mlp.json'), 'w') as f:
        json.dump(model, f, indent=2)
        f.write('\n')
    with open(os.path.join(folder, 'expected.jsonl'), 'w') as f:
        for e in events:
            f.write(json.dumps(e) + '\n')
    print(f'{name}: {steps_done} steps, end {end_reason}')


CASES = {
    'ce_sgd_relu_partial_batch': dict(
        seed=1, samples=50, input=10, loss='cross_entropy',
        layers=[dict(units=32, activation='relu'), dict(units=32, activation='relu'), dict(units=3, activation='linear')],
        training=dict(optimizer='sgd', learningRate=0.1, batchSize=16, steps=12)),
    'ce_momentum_leaky_clipnorm': dict(
        seed=2, samples=64, input=12, loss='cross_entropy', targetColumn=3,
        layers=[dict(units=24, activation='leaky_relu', alpha=0.1), dict(units=24, activation='leaky_relu', alpha=0.1), dict(units=4, activation='linear')],
        training=dict(optimizer='momentum', learningRate=0.05, momentum=0.9, batchSize=32, steps=10, clip=dict(mode='norm', max=0.3))),
    'mse_adam_tanh_clipvalue': dict(
        seed=3, samples=48, input=8, loss='mse',
        layers=[dict(units=16, activation='tanh'), dict(units=16, activation='tanh'), dict(units=1, activation='linear')],
        training=dict(optimizer='adam', learningRate=0.01, batchSize=16, steps=10, clip=dict(mode='value', max=0.01))),
    'ce_adam_sigmoid_full_batch': dict(
        seed=4, samples=40, input=6, loss='cross_entropy',
        layers=[dict(units=20, activation='sigmoid'), dict(units=20, activation='sigmoid'), dict(units=3, activation='linear')],
        training=dict(optimizer='adam', learningRate=0.02, beta1=0.8, beta2=0.99, eps=1e-6, batchSize='full', steps=8)),
    'dead_relu_negative_bias': dict(
        seed=5, samples=64, input=10, loss='cross_entropy',
        layers=[dict(units=32, activation='relu', bias=-1.0), dict(units=32, activation='relu', bias=-0.5), dict(units=3, activation='linear')],
        training=dict(optimizer='sgd', learningRate=0.5, batchSize=32, steps=10)),
    'deep_natural_sort_f64_weights': dict(
        seed=6, samples=32, input=8, loss='cross_entropy', weightsDtype='F64', shuffleTensorOrder=True,
        layers=[dict(units=16, activation='relu', init='he_normal') for _ in range(11)] + [dict(units=3, activation='linear')],
        training=dict(optimizer='momentum', learningRate=0.02, momentum=0.5, batchSize=16, steps=6, clip=dict(mode='norm', max=0.65))),
    'mse_elu_gelu_momentum': dict(
        seed=8, samples=40, input=5, loss='mse',
        layers=[dict(units=16, activation='elu', alpha=0.7), dict(units=16, activation='gelu'), dict(units=1, activation='linear')],
        training=dict(optimizer='momentum', learningRate=0.05, momentum=0.9, batchSize=10, steps=10, clip=dict(mode='value', max=0.05))),
    'ce_adam_silu_clipnorm': dict(
        seed=12, samples=48, input=6, loss='cross_entropy',
        layers=[dict(units=16, activation='silu'), dict(units=16, activation='silu', init='he_normal'),
                dict(units=4, activation='linear')],
        training=dict(optimizer='adam', learningRate=0.02, batchSize=16, steps=10, clip=dict(mode='norm', max=0.5))),
    'mse_momentum_selu_lecun': dict(
        seed=13, samples=40, input=8, loss='mse',
        layers=[dict(units=24, activation='selu', init='lecun_normal'), dict(units=24, activation='selu', init='lecun_normal'),
                dict(units=24, activation='selu', init='lecun_normal'), dict(units=1, activation='linear')],
        training=dict(optimizer='momentum', learningRate=0.02, momentum=0.9, batchSize=8, steps=10, clip=dict(mode='value', max=0.1))),
    'float64_adam_leaky': dict(
        seed=9, samples=30, input=7, loss='cross_entropy', dtype='float64',
        layers=[dict(units=12, activation='leaky_relu'), dict(units=3, activation='linear')],
        training=dict(optimizer='adam', learningRate=0.05, batchSize=8, steps=10)),
    'mse_loss_overflow_f32': dict(
        seed=11, samples=16, input=4, loss='mse', inputStd=2e17, weightScale=30.0,
        layers=[dict(units=8, activation='relu'), dict(units=1, activation='linear')],
        training=dict(optimizer='sgd', learningRate=0.01, batchSize=16, steps=5)),
    'blowup_non_finite': dict(
        seed=10, samples=32, input=8, loss='mse', inputStd=10.0,
        layers=[dict(units=32, activation='relu', init='he_normal'), dict(units=32, activation='relu', init='he_normal'), dict(units=1, activation='linear')],
        training=dict(optimizer='sgd', learningRate=50.0, batchSize=32, steps=30)),
}

if __name__ == '__main__':
    torch.set_num_threads(1)
    wanted = sys.argv[1:] or list(CASES)
    for case in wanted:
        run_case(case, CASES[case])
