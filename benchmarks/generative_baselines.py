"""Why diffusion won, on the seed's terms: a GAN and a VAE against the diffusion model on ring8.

All three sampling networks are the same residual MLP (``toy2d/mlp`` without its time input
has the same body), so the budgets match: the GAN generator and the VAE decoder have the
diffusion network's size (the GAN's discriminator and the VAE's encoder come on top and are
reported).  Each trains with AdamW for the same number of steps and batch size as the released
diffusion model.  Metrics are toy2d-eval/1 on 4000 samples: modes covered (out of 8), fraction
of samples within 3 std of a mode, sliced W2 to fresh data (beside the data-vs-data floor).

    OMP_NUM_THREADS=1 python benchmarks/generative_baselines.py   # ~100 minutes on one shared core
    python benchmarks/generative_baselines.py --steps 2000   # a quicker, weaker run
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

import zoo
from modalities.toy2d import dataset, sample_quality
from modalities.toy2d.networks import ResidualBlock


class Body(nn.Module):
    """The toy2d/mlp body with a constant conditioning vector instead of a time embedding."""

    def __init__(self, inp: int, out: int, hidden: int, depth: int):
        super().__init__()
        self.inp = nn.Linear(inp, hidden)
        self.cond = nn.Parameter(torch.zeros(hidden))
        self.blocks = nn.ModuleList(ResidualBlock(hidden) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, out))

    def forward(self, x):
        h = self.inp(x)
        emb = self.cond.expand_as(h)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h)


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def train_gan(data, steps, batch, hidden, depth, gen):
    """Non-saturating GAN (Goodfellow et al. 2014) with a 2-D latent."""
    g, d = Body(2, 2, hidden, depth), Body(2, 1, hidden, depth)
    opt_g = torch.optim.AdamW(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.AdamW(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits
    for _ in range(steps):
        real = data.sample(batch, gen).float()
        fake = g(torch.randn(batch, 2, generator=gen))
        loss_d = bce(d(real), torch.ones(batch, 1)) + bce(d(fake.detach()), torch.zeros(batch, 1))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(d(fake), torch.ones(batch, 1))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    with torch.no_grad():
        return g(torch.randn(4000, 2, generator=gen)), {"generator": params(g), "discriminator": params(d)}


class VAE(nn.Module):
    """Gaussian encoder and decoder (Kingma & Welling 2014), 2-D latent, learned decoder variance."""

    def __init__(self, hidden, depth):
        super().__init__()
        self.encoder, self.decoder = Body(2, 4, hidden, depth), Body(2, 2, hidden, depth)
        self.log_var = nn.Parameter(torch.tensor(-2.0))

    def loss(self, x, gen):
        mu, log_var = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * log_var) * torch.randn(mu.shape, generator=gen)
        nll = 0.5 * ((x - self.decoder(z)) ** 2 / self.log_var.exp() + self.log_var).sum(1)
        kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(1)
        return (nll + kl).mean()

    def sample(self, n, gen):
        mean = self.decoder(torch.randn(n, 2, generator=gen))
        return mean + torch.exp(0.5 * self.log_var) * torch.randn(mean.shape, generator=gen)


def train_vae(data, steps, batch, hidden, depth, gen):
    vae = VAE(hidden, depth)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3)
    for _ in range(steps):
        loss = vae.loss(data.sample(batch, gen).float(), gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return vae.sample(4000, gen), {"decoder": params(vae.decoder) + 1, "encoder": params(vae.encoder)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the diffusion recipe's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model = zoo.load("toy2d/ring8")
    recipe = zoo.files.read_yaml(model.origin.path / "training" / "recipe.yaml")
    steps, batch = args.steps or recipe["optim"]["steps"], recipe["optim"]["batch_size"]
    hidden, depth = model.config["network"]["hidden"], model.config["network"]["depth"]
    data = dataset("ring8")
    rows = []
    for name, fit in (("GAN", train_gan), ("VAE", train_vae)):
        gen = torch.Generator().manual_seed(args.seed)
        torch.manual_seed(args.seed)
        start = time.perf_counter()
        samples, sizes = fit(data, steps, batch, hidden, depth, gen)
        rows.append((name, sample_quality(samples, data), sizes, time.perf_counter() - start, steps))
    x = model.sample(4000, steps=20, generator=torch.Generator().manual_seed(args.seed))
    run = json.loads((model.origin.path / "training" / "run.json").read_text())  # its training, recorded then
    trained = zoo.runs.totals(zoo.runs.segments(run))
    rows.append(("diffusion (released toy2d/ring8, 20 NFE)", sample_quality(x, data),
                 {"network": params(model.network)}, trained["seconds"], trained["steps"]))
    print(f"ring8 (8 Gaussians, radius 2, std 0.1); 4000 samples; batch {batch}; toy2d-eval/1")
    print("| model | parameters | training steps | modes covered | within 3 std of a mode | sliced W2 (floor) | train s |")
    print("|---|---|---|---|---|---|---|")
    for name, q, sizes, seconds, n_steps in rows:
        size = ", ".join(f"{k} {v:,}" for k, v in sizes.items())
        print(f"| {name} | {size} | {n_steps} | {q['modes_covered']}/{q['modes']} | {q['near_data']:.3f} | "
              f"{q['sliced_w2']:.3f} ({q['sliced_w2_floor']:.3f}) | {seconds:.0f} |")


if __name__ == "__main__":
    main()
