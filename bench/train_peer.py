"""PyTorch peer of bench/train-speed.ts: the identical ViT (pre-norm, LayerNorm eps 1e-6, exact
GELU, separate q/k/v linears, [CLS, prompts, patches], deep prompts replaced per layer) timed on
the same training step. Run: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_peer.py [steps] [--vitb]
Prints one JSON line per measurement."""
import json, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)


class Block(nn.Module):
    def __init__(s, d, h, mlp, p):
        super().__init__()
        s.h = h
        s.ln0 = nn.LayerNorm(d, eps=1e-6)
        s.q, s.k, s.v, s.o = (nn.Linear(d, d) for _ in range(4))
        s.ln2 = nn.LayerNorm(d, eps=1e-6)
        s.fc0, s.fc1 = nn.Linear(d, d * mlp), nn.Linear(d * mlp, d)
        s.drop = nn.Dropout(p)

    def forward(s, x):
        B, T, D = x.shape
        hd = D // s.h
        y = s.ln0(x)
        q, k, v = (f(y).view(B, T, s.h, hd).transpose(1, 2) for f in (s.q, s.k, s.v))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), -1)
        c = (a @ v).transpose(1, 2).reshape(B, T, D)
        x = x + s.drop(s.o(c))
        y = s.ln2(x)
        return x + s.drop(s.fc1(s.drop(F.gelu(s.fc0(y)))))


class ViT(nn.Module):
    def __init__(s, img, ch, patch, d, depth, heads, mlp, classes, prompts=0, drop=0.1, pdrop=0.1):
        super().__init__()
        s.p, s.P = patch, prompts
        n = (img // patch) ** 2
        s.embed = nn.Linear(patch * patch * ch, d)
        s.cls = nn.Parameter(torch.zeros(1, 1, d))
        s.pos = nn.Parameter(torch.randn(1, n + 1, d) * 0.02)
        s.blocks = nn.ModuleList(Block(d, heads, mlp, drop) for _ in range(depth))
        s.norm = nn.LayerNorm(d, eps=1e-6)
        s.head = nn.Linear(d, classes)
        s.drop = nn.Dropout(drop)
        s.pdrop = nn.Dropout(pdrop)
        if prompts:
            v = math.sqrt(6.0 / (3 * patch * patch + d))
            s.prompts = nn.Parameter(torch.empty(depth, prompts, d).uniform_(-v, v))

    def forward(s, x):  # x: [B, N, p*p*C] (patchified, as the tfjs trainer feeds it)
        B = x.shape[0]
        x = torch.cat([s.cls.expand(B, -1, -1), s.embed(x)], 1) + s.pos
        x = s.drop(x)
        P = s.P
        for i, blk in enumerate(s.blocks):
            if P:
                pr = s.pdrop(s.prompts[i].expand(B, -1, -1))
                x = torch.cat([x[:, :1], pr, x[:, 1:] if i == 0 else x[:, 1 + P:]], 1)
            x = blk(x)
        return s.head(s.norm(x)[:, 0])


def measure(name, method, cfg, batch, steps):
    torch.manual_seed(0)
    prompts = 10 if method == "vpt-deep" else 0
    m = ViT(**cfg, prompts=prompts)
    if method == "forward":
        m.eval()
        n = (cfg["img"] // cfg["patch"]) ** 2
        x = torch.randn(batch, n, cfg["patch"] ** 2 * cfg["ch"])
        with torch.no_grad():
            m(x)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(steps):
                m(x)
            sec, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(json.dumps({"name": name, "method": method, "peer": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "batch": batch, "steps": steps, "msPerStep": 1000 * sec / steps, "imgPerSec": batch * steps / sec,
                          "cpuSec": cpu, "imgPerCpuSec": batch * steps / cpu}), flush=True)
        return
    if method == "vpt-deep":
        for n, p in m.named_parameters():
            p.requires_grad = n.startswith("prompts") or n.startswith("head")
        m.train()
        for mod in [m.drop, *[b.drop for b in m.blocks]]:
            mod.eval()  # frozen backbone in eval mode
        opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.01, momentum=0.9, weight_decay=0.01)
    else:
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.01)
    n = (cfg["img"] // cfg["patch"]) ** 2
    x = torch.randn(batch, n, cfg["patch"] ** 2 * cfg["ch"])
    y = torch.arange(batch) % cfg["classes"]

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    step()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(steps):
        step()
    sec = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(json.dumps({"name": name, "method": method, "peer": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "batch": batch, "steps": steps, "msPerStep": 1000 * sec / steps, "imgPerSec": batch * steps / sec,
                      "cpuSec": cpu, "imgPerCpuSec": batch * steps / cpu}), flush=True)


steps = int(next((a for a in sys.argv[1:] if not a.startswith("--")), "10"))
mini = dict(img=32, ch=1, patch=4, d=64, depth=4, heads=4, mlp=4, classes=10)
if "--vitb-only" not in sys.argv:
    measure("mini", "ft", mini, 64, steps)
    measure("mini", "vpt-deep", mini, 64, steps)
if "--vitb" in sys.argv or "--vitb-only" in sys.argv:
    vitb = dict(img=224, ch=3, patch=16, d=768, depth=12, heads=12, mlp=4, classes=100)
    measure("vit-b16", "forward", vitb, 8, 2)
    measure("vit-b16", "ft", vitb, 8, 2)
    measure("vit-b16", "vpt-deep", vitb, 8, 2)
