"""Tests of the Python client against a real service: RESNET_URL names it (npm test starts one).

With RESNET_HIDE_NUMPY=1 the client runs as on a machine without numpy; the comparisons below
then read plain lists.
"""

import json
import math
import os
import struct
import sys
import tempfile
import unittest

if os.environ.get("RESNET_HIDE_NUMPY") == "1":
    sys.modules["numpy"] = None  # import numpy now fails, as where it is not installed

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import resnet_gradient  # noqa: E402
from resnet_gradient import Client, ProblemError  # noqa: E402

URL = os.environ.get("RESNET_URL", "http://localhost:3000")
HAS_NUMPY = resnet_gradient._np is not None


def flat(value):
    """Nested numbers (lists or numpy arrays) as one flat list of floats."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [x for item in value for x in flat(item)]
    return [float(value)]


def seeded(count, offset):
    return [math.sin(offset + 0.37 * i) / 2 for i in range(count)]


K, D = 3, 4
W = [[seeded(D, 10 * k + i) for i in range(D)] for k in range(K)]
B = [seeded(D, 100 + k) for k in range(K)]
w = seeded(D, 200)


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = Client(URL)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def test_numpy_is_used_as_the_environment_says(self):
        self.assertEqual(HAS_NUMPY, os.environ.get("RESNET_HIDE_NUMPY") != "1")

    def test_gradient_agrees_with_the_service_over_json_and_over_raw_float64s(self):
        points = [[0.5, -0.25], [1.0, 0.0], [-0.75, 2.5]]
        values, gradients = self.client.gradient("demo", points, binary=False)
        values_b, gradients_b = self.client.gradient("demo", points, binary=True)
        self.assertEqual(flat(values), flat(values_b))
        self.assertEqual(flat(gradients), flat(gradients_b))
        # The README's one call: the same numbers, bit for bit.
        self.assertEqual(flat(values)[0], 0.27701583406928443)
        self.assertEqual(flat(gradients)[:2], [0.08008308634359138, -0.34667681253370525])
        self.assertEqual(len(gradients), 3)

    def test_large_batches_travel_as_raw_float64s(self):
        points = [[math.sin(i), math.cos(i)] for i in range(resnet_gradient.BINARY_THRESHOLD + 5)]
        values, gradients = self.client.gradient("demo", points)
        self.assertEqual(len(values), len(points))
        one, grads = self.client.gradient("demo", [points[-1]], binary=False)
        self.assertEqual(flat(values)[-1], flat(one)[0])
        self.assertEqual(flat(gradients)[-2:], flat(grads))

    def test_evaluate_and_hessian(self):
        points = [[0.3, -0.7]]
        values = self.client.evaluate("demo", points)
        v, g, h = self.client.hessian("demo", points)
        self.assertEqual(flat(values), flat(v))
        self.assertEqual(len(flat(h)), 4)
        self.assertEqual(flat(h)[1], flat(h)[2])  # symmetric
        _, _, hb = self.client.hessian("demo", points, binary=True)
        self.assertEqual(flat(h), flat(hb))

    def test_models_from_arrays_versions_and_delete(self):
        created = self.client.create_model(W, B, w, 0.1, 0.2, name="py-arrays", input_dim=2)
        self.assertEqual(created["version"], 1)
        self.assertEqual(created["inputDim"], 2)
        model = self.client.get_model(created["id"])
        self.assertEqual(flat(model["W"]), flat(W))
        first = self.client.put_model("py-named", W, B, w, 0.1, 0.2, input_dim=2)
        second = self.client.put_model("py-named", W, B, w, 0.2, 0.2, input_dim=2)
        self.assertEqual([first["version"], second["version"]], [1, 2])
        v1 = self.client.evaluate("py-named", [[0.1, 0.2]], version=1)
        v2 = self.client.evaluate("py-named", [[0.1, 0.2]])
        self.assertAlmostEqual(flat(v2)[0] - flat(v1)[0], 0.1, places=12)
        self.assertIn("py-named", [m["id"] for m in self.client.list_models()])
        self.client.delete_model("py-named")
        with self.assertRaises(ProblemError) as raised:
            self.client.get_model("py-named")
        self.assertEqual((raised.exception.status, raised.exception.kind), (404, "model-not-found"))

    @unittest.skipUnless(HAS_NUMPY, "writing an .npz needs numpy")
    def test_models_from_an_npz_file(self):
        import numpy as np

        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "T.npz")
            np.savez(path, W=np.array(W), b=np.array(B)[:, :, None], w=np.array(w)[:, None], mu=0.1)
            summary = self.client.upload_model(path, "py-file", h=0.2, inputDim=2)
        self.assertEqual(summary["version"], 1)
        arrays = self.client.create_model(np.array(W), np.array(B), np.array(w), 0.1, 0.2, input_dim=2)
        point = [[0.4, -0.1]]
        self.assertEqual(flat(self.client.gradient("py-file", point)[1]), flat(self.client.gradient(arrays["id"], point)[1]))

    def test_errors_carry_the_problem_details(self):
        with self.assertRaises(ProblemError) as raised:
            self.client.gradient("demo", [[1.0, 2.0, 3.0]])
        error = raised.exception
        self.assertEqual(error.status, 422)
        self.assertEqual(error.kind, "invalid-points")
        self.assertEqual(error.detail, "points[0] has 3 coordinates, expected 2 (the model's inputDim)")
        self.assertEqual(error.problem["type"], "/problems/invalid-points")
        with self.assertRaises(ProblemError) as raised:
            self.client.gradient("no-such-model", [[1.0, 2.0]], binary=True)
        self.assertEqual(raised.exception.status, 404)

    def test_stormer_verlet_by_hand_matches_the_server_flow(self):
        """The learned pendulum, step by step with /gradient, against POST /flows."""
        h, steps = 0.05, 40
        q, p = 1.0, 0.0
        grad_v = lambda q: flat(self.client.gradient("demo-pendulum-V", [[q]], binary=False)[1])[0]
        grad_t = lambda p: flat(self.client.gradient("demo-pendulum-T", [[p]], binary=False)[1])[0]
        trajectory = [(q, p)]
        for _ in range(steps):
            p_half = p - (h / 2) * grad_v(q)
            q = q + h * grad_t(p_half)
            p = p_half - (h / 2) * grad_v(q)
            trajectory.append((q, p))
        answer = self.client.flow("stormer-verlet", h, steps, [[1.0, 0.0]], kinetic="demo-pendulum-T", potential="demo-pendulum-V", every=1)
        served = answer["states"][0]
        self.assertEqual(len(served), steps + 1)
        for (q_hand, p_hand), state in zip(trajectory, served):
            q_server, p_server = flat(state)
            self.assertLessEqual(abs(q_hand - q_server), 1e-12 * max(1.0, abs(q_server)))
            self.assertLessEqual(abs(p_hand - p_server), 1e-12 * max(1.0, abs(p_server)))


if __name__ == "__main__":
    unittest.main()
