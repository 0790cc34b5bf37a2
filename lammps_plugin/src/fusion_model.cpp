// fusionpot LAMMPS plugin, torch side: load the exported model and call it on a graph.
// No LAMMPS header may be included here (see fusion_model.h).

#include "fusion_model.h"
#include "fusion_metadata.h"

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fusionpot {

namespace {

torch::Device choose_device(const std::string &device, int local_rank)
{
  if (device == "cpu") return torch::Device(torch::kCPU);
  if (device == "cuda") {
    if (!torch::cuda::is_available())
      throw std::runtime_error(
          "device cuda was requested but this libtorch sees no CUDA GPU (a CPU build of torch, "
          "or no visible device); rebuild the plugin against a CUDA libtorch or use device cpu");
    const int count = static_cast<int>(torch::cuda::device_count());
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % count));
  }
  throw std::runtime_error("unknown device '" + device + "': use cpu or cuda");
}

// glibc returns the large tensors of every step to the kernel and page-faults them back;
// higher mmap/trim thresholds keep them in the heap (2-2.6x faster on CPU, DESIGN.md
// section 5; the same values as fusionpot.calculators._malloc). Off with
// FUSIONPOT_MALLOC_TUNING=0, and left alone when the user set any MALLOC_*_ variable.
bool tune_malloc()
{
#if defined(__GLIBC__)
  const char *opt_out = std::getenv("FUSIONPOT_MALLOC_TUNING");
  if (opt_out != nullptr && std::string(opt_out) == "0") return false;
  for (const char *name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"})
    if (std::getenv(name) != nullptr) return false;
  return mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1 && mallopt(M_TRIM_THRESHOLD, 0x7fffffff) == 1 &&
      mallopt(M_TOP_PAD, 1 << 30) == 1;
#else
  return false;
#endif
}

}    // namespace

void Graph::clear()
{
  n_nodes = n_local = 0;
  positions.clear();
  species.clear();
  senders.clear();
  receivers.clear();
  shifts.clear();
}

struct FusionModel::Impl {
  torch::jit::Module module;
  ModelInfo info;
  torch::Device device{torch::kCPU};
  torch::Dtype dtype = torch::kFloat64;
};

FusionModel::FusionModel(const std::string &path, const std::string &device, int local_rank) :
    impl_(std::make_unique<Impl>())
{
  impl_->device = choose_device(device, local_rank);
  std::unordered_map<std::string, std::string> extra{{kMetadataFile, ""}};
  try {
    impl_->module = torch::jit::load(path, impl_->device, extra);
  } catch (const c10::Error &e) {
    throw std::runtime_error("torch::jit::load failed (missing file, or not a TorchScript file): " +
                             e.msg());
  }
  // the file's metadata.json, by the keys of fusionpot.export.metadata, version checked
  const Metadata metadata = parse_metadata(extra[kMetadataFile], path);
  impl_->module.eval();

  ModelInfo &info = impl_->info;
  info.elements = metadata.elements;
  info.r_max = metadata.r_max;
  info.n_layers = metadata.n_layers;
  info.n_states = metadata.n_states;
  info.dtype = metadata.dtype;
  info.device = impl_->device.str();
  if (impl_->device.is_cpu()) info.malloc_tuned = tune_malloc();
  if (info.dtype == "float64")
    impl_->dtype = torch::kFloat64;
  else if (info.dtype == "float32")
    impl_->dtype = torch::kFloat32;
  else
    throw std::runtime_error("unsupported model dtype '" + info.dtype + "'");
}

FusionModel::~FusionModel() = default;

const ModelInfo &FusionModel::info() const { return impl_->info; }

void FusionModel::compute(const Graph &graph, int state, bool atomic_energy, bool virial,
                          bool atomic_virial, Result &result)
{
  const int64_t n = graph.n_nodes;
  const int64_t n_edges = static_cast<int64_t>(graph.senders.size());
  const auto device = impl_->device;
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);

  // Inputs are built on the CPU from the caller's buffers, then moved in one copy each.
  auto positions = torch::from_blob(const_cast<double *>(graph.positions.data()), {n, 3},
                                    torch::TensorOptions().dtype(torch::kFloat64))
                       .to(device, impl_->dtype, /*non_blocking=*/false, /*copy=*/true);
  auto species = torch::from_blob(const_cast<int64_t *>(graph.species.data()), {n}, i64)
                     .to(device, torch::kInt64, false, true);
  auto edge_index = torch::empty({2, n_edges}, i64);
  std::memcpy(edge_index.data_ptr<int64_t>(), graph.senders.data(), n_edges * sizeof(int64_t));
  std::memcpy(edge_index.data_ptr<int64_t>() + n_edges, graph.receivers.data(),
              n_edges * sizeof(int64_t));
  const auto on_device = torch::TensorOptions().device(device);

  c10::Dict<std::string, torch::Tensor> data;
  data.insert("positions", positions);
  data.insert("species", species);
  data.insert("edge_index", edge_index.to(device));
  auto shifts = torch::from_blob(const_cast<int64_t *>(graph.shifts.data()), {n_edges, 3}, i64);
  data.insert("edge_cell_shift", shifts.to(device, torch::kInt64, false, true));
  auto cell = torch::from_blob(const_cast<double *>(graph.cell), {1, 3, 3},
                               torch::TensorOptions().dtype(torch::kFloat64));
  data.insert("cell", cell.to(device, impl_->dtype, false, true));
  data.insert("batch", torch::zeros({n}, on_device.dtype(torch::kInt64)));
  data.insert("ptr", torch::tensor({int64_t{0}, n}, i64).to(device));
  data.insert("local_mask", torch::arange(n, on_device.dtype(torch::kInt64)) < graph.n_local);

  // On a CPU, without TorchScript's profiling optimisation: a process's first calls then
  // cost 10-25x a steady call, and steady calls gain nothing from it (bench/first_calls.py;
  // fusionpot.export.SteadyScript does the same in Python). CUDA: torch's default.
  torch::jit::GraphOptimizerEnabledGuard optimise(!device.is_cpu());
  std::vector<c10::IValue> arguments{data, static_cast<int64_t>(state), /*compute_forces=*/true,
                                     /*compute_virial=*/virial};
  if (atomic_virial) {
    // files exported before per-atom virials existed take four arguments
    if (impl_->module.get_method("forward").function().getSchema().arguments().size() < 6)
      throw std::runtime_error(
          "this model file predates per-atom virials (compute stress/atom): export it again "
          "with `fusionpot export`");
    arguments.emplace_back(/*compute_atomic_virial=*/true);
  }
  c10::IValue output;
  try {
    output = impl_->module.forward(arguments);
  } catch (const c10::Error &e) {
    throw std::runtime_error("the model call failed: " + e.msg());
  }
  const auto out = output.toGenericDict();

  const auto energy = out.at("energy").toTensor().to(torch::kCPU, torch::kFloat64);
  result.energy = energy.index({0, state}).item<double>();

  // forces [n, 1, 3]: only `state` was differentiated
  const auto forces = out.at("forces").toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
  result.forces.resize(static_cast<size_t>(n) * 3);
  std::memcpy(result.forces.data(), forces.data_ptr<double>(), n * 3 * sizeof(double));

  if (virial) {    // [1, 1, 3, 3]
    const auto w = out.at("virial").toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
    std::memcpy(result.virial, w.data_ptr<double>(), 9 * sizeof(double));
  }

  if (atomic_virial) {    // [n, 1, 3, 3]
    const auto w =
        out.at("atomic_virial").toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
    result.atomic_virial.resize(static_cast<size_t>(n) * 9);
    std::memcpy(result.atomic_virial.data(), w.data_ptr<double>(), n * 9 * sizeof(double));
  }

  if (atomic_energy) {
    const auto local = out.at("atomic_energy")
                           .toTensor()
                           .index({torch::indexing::Slice(0, graph.n_local), state})
                           .to(torch::kCPU, torch::kFloat64)
                           .contiguous();
    result.atomic_energy.assign(local.data_ptr<double>(), local.data_ptr<double>() + graph.n_local);
  }
}

}    // namespace fusionpot
