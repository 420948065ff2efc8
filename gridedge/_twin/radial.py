"""Numpy twin of :mod:`gridedge._native.radial`: the sweep level by level, islands by scipy.

The network is an edge list of two-ports in transmission form, one set of coefficients per
orientation: with the parent (feeding) end first, ``V_parent = a V + b J`` and
``I_parent = c V + d J``, ``J`` the current the child draws from the edge. Each slack vertex
holds its voltage; vertices no slack reaches are de-energised (voltage 0). Loads draw constant
complex power.
"""

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse import csgraph

from gridedge.errors import InvalidInputError


def sweep(
    edge_a: NDArray[np.int64],
    edge_b: NDArray[np.int64],
    coefficients: NDArray[np.complex128],
    slack: NDArray[np.int64],
    slack_voltage: NDArray[np.complex128],
    load: NDArray[np.complex128],
    tolerance: float,
    max_iterations: int,
) -> tuple[NDArray[np.complex128], int, str]:
    """Solve a radial network by backward/forward sweep.

    Parameters
    ----------
    edge_a, edge_b : ndarray of int64, shape (m,)
        End vertices of each edge.
    coefficients : ndarray of complex128, shape (m, 2, 4)
        ``(a, b, c, d)`` of each edge fed from `edge_a` (``[:, 0]``) or from `edge_b`
        (``[:, 1]``).
    slack : ndarray of int64, shape (k,)
        Vertices held at a fixed voltage.
    slack_voltage : ndarray of complex128, shape (k,)
        Their voltages, p.u.
    load : ndarray of complex128, shape (n,)
        Complex power drawn at each vertex, p.u.; its length is the number of vertices.
    tolerance : float
        Convergence threshold on the largest voltage update, p.u.
    max_iterations : int

    Returns
    -------
    voltage : ndarray of complex128, shape (n,)
        P.u.; 0 at vertices no slack reaches.
    iterations : int
    status : {"converged", "diverged", "meshed"}
        ``meshed`` when a slack's tree closes a loop or meets another slack's tree (the
        voltages are then all zero).

    Raises
    ------
    InvalidInputError
        Arrays of the wrong shape or vertex numbers out of range.
    """
    n = load.shape[0]
    m = edge_a.shape[0]
    if (
        edge_b.shape != (m,)
        or coefficients.shape != (m, 2, 4)
        or slack_voltage.shape != slack.shape
    ):
        raise InvalidInputError(
            "edge_b, coefficients and slack_voltage must have shapes (m,), (m, 2, 4) and (k,)"
        )
    if not (tolerance > 0 and max_iterations >= 1):
        raise InvalidInputError("tolerance and max_iterations must be positive")
    for name, index in (("edge_a", edge_a), ("edge_b", edge_b), ("slack", slack)):
        if index.size and (index.min() < 0 or index.max() >= n):
            raise InvalidInputError(f"{name} holds a vertex outside 0 to {n - 1}")
    voltage = np.zeros(n, dtype=np.complex128)
    tree = _trees(n, edge_a, edge_b, slack)
    if tree is None:
        return voltage, 0, "meshed"
    order, parent, via, depth = tree
    forward = edge_a[via[order]] == parent[order]
    abcd = np.zeros((n, 4), dtype=np.complex128)
    abcd[order] = coefficients[via[order], np.where(forward, 0, 1)]
    a, b, c, d = abcd.T
    levels = [order[depth[order] == k] for k in range(1, int(depth.max(initial=0)) + 1)]
    reached = np.concatenate([slack, order])
    voltage[reached] = 1.0
    voltage[slack] = slack_voltage
    for iteration in range(1, max_iterations + 1):
        downstream = np.zeros(n, dtype=np.complex128)
        drawn = np.zeros(n, dtype=np.complex128)
        drawn[reached] = np.conj(load[reached] / voltage[reached])
        for level in reversed(levels):
            drawn[level] += downstream[level]
            np.add.at(
                downstream, parent[level], c[level] * voltage[level] + d[level] * drawn[level]
            )
        previous = voltage.copy()
        for level in levels:
            voltage[level] = (voltage[parent[level]] - b[level] * drawn[level]) / a[level]
        with np.errstate(invalid="ignore"):
            change = float(np.max(np.abs(voltage - previous), initial=0.0))
        if not change < 1e300:
            return voltage, iteration, "diverged"
        if change < tolerance:
            return voltage, iteration, "converged"
    return voltage, max_iterations, "diverged"


def _trees(
    n: int, edge_a: NDArray[np.int64], edge_b: NDArray[np.int64], slack: NDArray[np.int64]
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]] | None:
    """Breadth-first trees from the slacks: non-root order, parent, feeding edge, depth.

    None when an island holding a slack is not a tree or holds several slacks.
    """
    m = edge_a.shape[0]
    graph = sp.coo_matrix((np.ones(m), (edge_a, edge_b)), shape=(n, n)).tocsr()
    _, label = csgraph.connected_components(graph, directed=False)
    edges_per_island = np.bincount(label[edge_a], minlength=n)
    vertices_per_island = np.bincount(label, minlength=n)
    slacks_per_island = np.bincount(label[slack], minlength=n)
    fed = np.unique(label[slack])
    if np.any(slacks_per_island[fed] > 1) or np.any(
        edges_per_island[fed] != vertices_per_island[fed] - 1
    ):
        return None
    # Edge number + 1 at (a, b) and (b, a): a tree has no parallel edges to sum.
    numbers = np.arange(1, m + 1)
    edge_of = sp.coo_matrix(
        (
            np.concatenate([numbers, numbers]),
            (np.concatenate([edge_a, edge_b]), np.concatenate([edge_b, edge_a])),
        ),
        shape=(n, n),
    ).tocsr()
    parent = np.full(n, -1, dtype=np.intp)
    depth = np.zeros(n, dtype=np.intp)
    orders = []
    for root in slack.tolist():
        order, predecessors = csgraph.breadth_first_order(graph, root, directed=False)
        order = order[1:]
        parent[order] = predecessors[order]
        for vertex in order.tolist():
            depth[vertex] = depth[parent[vertex]] + 1
        orders.append(order)
    order = np.concatenate(orders).astype(np.intp) if orders else np.zeros(0, dtype=np.intp)
    via = np.zeros(n, dtype=np.intp)
    via[order] = np.asarray(edge_of[parent[order], order]).ravel() - 1
    return order, parent, via, depth


def components(
    n_vertices: int, edge_a: NDArray[np.int64], edge_b: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Label the connected components of an undirected graph.

    Parameters
    ----------
    n_vertices : int
    edge_a, edge_b : ndarray of int64, shape (m,)
        End vertices of each edge.

    Returns
    -------
    ndarray of int64, shape (n_vertices,)
        Component number of each vertex, numbered in the order of each component's smallest
        vertex.

    Raises
    ------
    InvalidInputError
        Edges of different lengths or vertex numbers out of range.
    """
    if edge_a.shape != edge_b.shape or edge_a.ndim != 1:
        raise InvalidInputError("edge_a and edge_b must be one-dimensional and of equal length")
    for name, index in (("edge_a", edge_a), ("edge_b", edge_b)):
        if index.size and (index.min() < 0 or index.max() >= n_vertices):
            raise InvalidInputError(f"{name} holds a vertex outside 0 to {n_vertices - 1}")
    graph = sp.coo_matrix(
        (np.ones(edge_a.shape[0]), (edge_a, edge_b)), shape=(n_vertices, n_vertices)
    )
    _, labels = csgraph.connected_components(graph, directed=False)
    return labels.astype(np.int64)
