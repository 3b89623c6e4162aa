"""Reference for the residual network of the seed, in numpy float64.

F(y) = G(Phi_{K-1}(...Phi_0(y))),  Phi_k(y) = y + h*sigma(W_k y + b_k),  G(z) = eta(w.z + mu)
grad F(y) by the backward sweep A <- A + W_k^T (h sigma'(W_k Z_k + b_k) * A), A0 = eta'(w.Z_K + mu) w.

Points are columns: Y has shape (d, N). bench_py.py times it (numpy) and checks PyTorch
against it; both are run by `npm run bench` for the figures beside ours.
"""
import numpy as np

SIGMA = {
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "sigmoid": (lambda x: 1.0 / (1.0 + np.exp(-x)), lambda x: (1.0 / (1.0 + np.exp(-x))) * (1.0 - 1.0 / (1.0 + np.exp(-x)))),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
}
ETA = {
    "identity": (lambda x: x, lambda x: np.ones_like(x)),
    # the project's scaled tanh, (1 + tanh(x/2)) / 2, i.e. the logistic function
    "logistic": (lambda x: 0.5 * (1.0 + np.tanh(x / 2.0)), lambda x: 0.25 * (1.0 - np.tanh(x / 2.0) ** 2)),
}


def forward(Ws, bs, w, mu, h, Y, sigma="tanh", eta="identity"):
    s, _ = SIGMA[sigma]
    e, _ = ETA[eta]
    Z = [Y]
    for W, b in zip(Ws, bs):
        Z.append(Z[-1] + h * s(W @ Z[-1] + b[:, None]))
    return e(w @ Z[-1] + mu), Z


def gradient(Ws, bs, w, mu, h, Y, sigma="tanh", eta="identity"):
    _, ds = SIGMA[sigma]
    _, de = ETA[eta]
    F, Z = forward(Ws, bs, w, mu, h, Y, sigma, eta)
    A = de(w @ Z[-1] + mu)[None, :] * w[:, None]
    for k in range(len(Ws) - 1, -1, -1):
        A = A + Ws[k].T @ (h * ds(Ws[k] @ Z[k] + bs[k][:, None]) * A)
    return F, A


def random_model(K, d, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return dict(Ws=[rng.standard_normal((d, d)) * scale for _ in range(K)],
                bs=[rng.standard_normal(d) * scale for _ in range(K)],
                w=rng.standard_normal(d), mu=float(rng.standard_normal()), h=0.1)


if __name__ == "__main__":
    # finite-difference self check of the oracle
    for sigma in SIGMA:
        for eta in ETA:
            m = random_model(8, 5, seed=1)
            Y = np.random.default_rng(2).standard_normal((5, 7))
            F, A = gradient(m["Ws"], m["bs"], m["w"], m["mu"], m["h"], Y, sigma, eta)
            eps = 1e-6
            fd = np.zeros_like(Y)
            for i in range(5):
                E = np.zeros_like(Y); E[i] = eps
                fd[i] = (forward(m["Ws"], m["bs"], m["w"], m["mu"], m["h"], Y + E, sigma, eta)[0]
                         - forward(m["Ws"], m["bs"], m["w"], m["mu"], m["h"], Y - E, sigma, eta)[0]) / (2 * eps)
            print(sigma, eta, "max |A - fd| =", np.abs(A - fd).max())
