// A simulated Measurement Computing USB-200 series DAQ behind the C interface of MCC's libuldaq.
//
// The uldaq Python package is a ctypes binding of libuldaq.so. Built under that name, this
// library lets the real package run where there is neither the library nor the device: it
// exports the functions uldaq calls, with MCC's signatures and structure layouts, and simulates
// a USB-201-like board: 8 single-ended 12-bit inputs, +-10 V or 0-10 V, up to 50 kS/s in all.
// A continuous scan runs a thread that writes samples of a known waveform into the caller's
// circular buffer in real time, quantised to 12 bits, and advances the transfer counters that
// ulAInScanStatus reports. The sim_* functions let a test plug and unplug devices, set the
// waveform, force a FIFO overrun and pause the data stream.
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef int UlError;
typedef long long DaqDeviceHandle;

enum {
  ERR_NO_ERROR = 0,
  ERR_BAD_DEV_HANDLE = 2,
  ERR_BAD_DEV_TYPE = 3,
  ERR_DEV_NOT_FOUND = 6,
  ERR_DEV_NOT_CONNECTED = 7,
  ERR_DEAD_DEV = 8,
  ERR_BAD_BUFFER_SIZE = 9,
  ERR_BAD_BUFFER = 10,
  ERR_BAD_RANGE = 13,
  ERR_BAD_AI_CHAN = 14,
  ERR_BAD_INPUT_MODE = 15,
  ERR_ALREADY_ACTIVE = 16,
  ERR_OVERRUN = 18,
  ERR_BAD_OPTION = 21,
  ERR_BAD_RATE = 22,
  ERR_CONFIG_NOT_SUPPORTED = 24,
  ERR_BAD_SAMPLE_COUNT = 34,
  ERR_BAD_ARG = 45,
};

// Values of MCC's enumerations used here.
enum { USB_IFC = 1 << 0 };
enum { AI_SINGLE_ENDED = 2 };
enum { BIP10VOLTS = 5, UNI10VOLTS = 1005 };
enum { SO_CONTINUOUS = 1 << 3, SO_SUPPORTED = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) };
enum { AINSCAN_NOSCALEDATA = 1 << 0 };
enum { SS_IDLE = 0, SS_RUNNING = 1 };
enum { DEV_HAS_AI = 1 };
enum {
  AI_RESOLUTION = 1,
  AI_NUM_CHANS = 2,
  AI_NUM_CHANS_BY_MODE = 3,
  AI_CHAN_TYPES = 5,
  AI_SCAN_OPTIONS = 6,
  AI_HAS_PACER = 7,
  AI_NUM_DIFF_RANGES = 8,
  AI_NUM_SE_RANGES = 9,
  AI_SE_RANGE = 11,
  AI_TRIG_TYPES = 12,
  AI_FIFO_SIZE = 16,
};
enum { AI_MIN_SCAN_RATE = 1000, AI_MAX_SCAN_RATE = 1001, AI_MAX_THROUGHPUT = 1002 };

typedef struct {
  char productName[64];
  unsigned int productId;
  unsigned int devInterface;
  char devString[64];
  char uniqueId[64];
  char reserved[512];
} DaqDeviceDescriptor;

typedef struct {
  long long currentScanCount;
  long long currentTotalCount;
  long long currentIndex;
  char reserved[64];
} TransferStatus;

#define MAX_DEVICES 4
#define CHANNELS 8
#define BITS 12
#define MAX_THROUGHPUT 50000.0

struct Device {
  DaqDeviceDescriptor descriptor;
  int plugged;
  int connected;
  // The scan, guarded by `lock`.
  pthread_t thread;
  int thread_running;
  int stop;
  int running;
  int paused;
  int overrun_requested;
  UlError error;
  double* buffer;
  long long buffer_rows;
  long long rows;
  int low, count, range, flags, continuous;
  double rate;
  struct timespec started;
};

static struct Device devices[MAX_DEVICES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static double frequency = 50.0;
static double amplitude[CHANNELS], phase[CHANNELS], offset[CHANNELS];

static double seconds_since(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + 1e-9 * (double)(now.tv_nsec - start->tv_nsec);
}

static struct Device* device_of(DaqDeviceHandle handle) {
  if (handle < 1 || handle > MAX_DEVICES) return NULL;
  struct Device* device = &devices[handle - 1];
  return device->descriptor.uniqueId[0] ? device : NULL;
}

static struct Device* device_named(const char* unique_id) {
  for (int i = 0; i < MAX_DEVICES; ++i) {
    if (devices[i].descriptor.uniqueId[0] &&
        strncmp(devices[i].descriptor.uniqueId, unique_id, 64) == 0) {
      return &devices[i];
    }
  }
  return NULL;
}

// One sample of input `channel` at `t` seconds, as the 12-bit converter returns it.
static double sample(const struct Device* device, int channel, double t) {
  const double low = device->range == UNI10VOLTS ? 0.0 : -10.0;
  const double lsb = (device->range == UNI10VOLTS ? 10.0 : 20.0) / (1 << BITS);
  const double volts =
      offset[channel] + amplitude[channel] * cos(2 * M_PI * frequency * t + phase[channel]);
  double code = floor((volts - low) / lsb + 0.5);
  code = code<0 ? 0 : code>(1 << BITS) - 1 ? (1 << BITS) - 1 : code;
  return device->flags & AINSCAN_NOSCALEDATA ? code : low + code * lsb;
}

static void* scan(void* argument) {
  struct Device* device = argument;
  const struct timespec tick = {0, 1000000};
  for (;;) {
    nanosleep(&tick, NULL);
    pthread_mutex_lock(&lock);
    if (device->stop) {
      pthread_mutex_unlock(&lock);
      return NULL;
    }
    if (!device->plugged || device->overrun_requested) {
      device->error = device->plugged ? ERR_OVERRUN : ERR_DEAD_DEV;
      device->overrun_requested = 0;
      device->running = 0;
      pthread_mutex_unlock(&lock);
      return NULL;
    }
    long long due = (long long)(seconds_since(&device->started) * device->rate);
    if (!device->continuous && due > device->buffer_rows) due = device->buffer_rows;
    if (device->paused) due = device->rows;
    for (long long row = device->rows; row < due; ++row) {
      double* slot = device->buffer + (row % device->buffer_rows) * device->count;
      for (int k = 0; k < device->count; ++k) {
        slot[k] = sample(device, device->low + k, (double)row / device->rate);
      }
    }
    device->rows = due;
    if (!device->continuous && due == device->buffer_rows) device->running = 0;
    const int done = !device->running;
    pthread_mutex_unlock(&lock);
    if (done) return NULL;
  }
}

static void stop_scan(struct Device* device) {
  pthread_mutex_lock(&lock);
  const int joinable = device->thread_running;
  device->stop = 1;
  device->thread_running = 0;
  pthread_mutex_unlock(&lock);
  if (joinable) pthread_join(device->thread, NULL);
  pthread_mutex_lock(&lock);
  device->running = 0;
  device->stop = 0;
  pthread_mutex_unlock(&lock);
}

// ---------------------------------------------------------------------------------------------
// Control of the simulation.

int sim_plug(const char* product_name, unsigned int product_id, const char* unique_id) {
  for (int i = 0; i < MAX_DEVICES; ++i) {
    struct Device* device = &devices[i];
    if (!device->descriptor.uniqueId[0]) {
      memset(device, 0, sizeof *device);
      snprintf(device->descriptor.productName, 64, "%s", product_name);
      snprintf(device->descriptor.devString, 64, "%s", product_name);
      snprintf(device->descriptor.uniqueId, 64, "%s", unique_id);
      device->descriptor.productId = product_id;
      device->descriptor.devInterface = USB_IFC;
      device->plugged = 1;
      return i;
    }
  }
  return -1;
}

void sim_unplug(const char* unique_id) {
  struct Device* device = device_named(unique_id);
  pthread_mutex_lock(&lock);
  if (device) device->plugged = 0;
  pthread_mutex_unlock(&lock);
}

void sim_overrun(const char* unique_id) {
  struct Device* device = device_named(unique_id);
  pthread_mutex_lock(&lock);
  if (device) device->overrun_requested = 1;
  pthread_mutex_unlock(&lock);
}

void sim_pause(const char* unique_id, int paused) {
  struct Device* device = device_named(unique_id);
  pthread_mutex_lock(&lock);
  if (device) device->paused = paused;
  pthread_mutex_unlock(&lock);
}

// The waveform of every input: offset[k] + amplitude[k] cos(2 pi f t + phase[k]), volts.
void sim_set_signal(double f, const double* amplitudes, const double* phases,
                    const double* offsets) {
  pthread_mutex_lock(&lock);
  frequency = f;
  memcpy(amplitude, amplitudes, sizeof amplitude);
  memcpy(phase, phases, sizeof phase);
  memcpy(offset, offsets, sizeof offset);
  pthread_mutex_unlock(&lock);
}

void sim_reset(void) {
  for (int i = 0; i < MAX_DEVICES; ++i) {
    stop_scan(&devices[i]);
    memset(&devices[i], 0, sizeof devices[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// The libuldaq functions a continuous analog input scan needs.

UlError ulGetDaqDeviceInventory(unsigned int interfaces, DaqDeviceDescriptor* descriptors,
                                unsigned int* number) {
  unsigned int found = 0;
  for (int i = 0; i < MAX_DEVICES; ++i) {
    const struct Device* device = &devices[i];
    if (device->plugged && (device->descriptor.devInterface & interfaces)) {
      if (found < *number) descriptors[found] = device->descriptor;
      ++found;
    }
  }
  const UlError error = found > *number ? ERR_BAD_BUFFER_SIZE : ERR_NO_ERROR;
  *number = found;
  return error;
}

DaqDeviceHandle ulCreateDaqDevice(DaqDeviceDescriptor descriptor) {
  struct Device* device = device_named(descriptor.uniqueId);
  return device && device->plugged ? (DaqDeviceHandle)(device - devices) + 1 : 0;
}

UlError ulGetDaqDeviceDescriptor(DaqDeviceHandle handle, DaqDeviceDescriptor* descriptor) {
  const struct Device* device = device_of(handle);
  if (!device) return ERR_BAD_DEV_HANDLE;
  *descriptor = device->descriptor;
  return ERR_NO_ERROR;
}

UlError ulConnectDaqDevice(DaqDeviceHandle handle) {
  struct Device* device = device_of(handle);
  if (!device) return ERR_BAD_DEV_HANDLE;
  if (!device->plugged) return ERR_DEV_NOT_FOUND;
  device->connected = 1;
  return ERR_NO_ERROR;
}

UlError ulIsDaqDeviceConnected(DaqDeviceHandle handle, int* connected) {
  const struct Device* device = device_of(handle);
  if (!device) return ERR_BAD_DEV_HANDLE;
  *connected = device->connected && device->plugged;
  return ERR_NO_ERROR;
}

UlError ulDisconnectDaqDevice(DaqDeviceHandle handle) {
  struct Device* device = device_of(handle);
  if (!device) return ERR_BAD_DEV_HANDLE;
  stop_scan(device);
  device->connected = 0;
  return ERR_NO_ERROR;
}

UlError ulReleaseDaqDevice(DaqDeviceHandle handle) {
  struct Device* device = device_of(handle);
  if (!device) return ERR_BAD_DEV_HANDLE;
  stop_scan(device);
  device->connected = 0;
  return ERR_NO_ERROR;
}

UlError ulDevGetInfo(DaqDeviceHandle handle, unsigned int item, unsigned int index,
                     long long* value) {
  (void)index;
  if (!device_of(handle)) return ERR_BAD_DEV_HANDLE;
  *value = item == DEV_HAS_AI;
  return ERR_NO_ERROR;
}

UlError ulAIGetInfo(DaqDeviceHandle handle, unsigned int item, unsigned int index,
                    long long* value) {
  if (!device_of(handle)) return ERR_BAD_DEV_HANDLE;
  switch (item) {
    case AI_RESOLUTION:
      *value = BITS;
      return ERR_NO_ERROR;
    case AI_NUM_CHANS:
      *value = CHANNELS;
      return ERR_NO_ERROR;
    case AI_NUM_CHANS_BY_MODE:
      *value = index == AI_SINGLE_ENDED ? CHANNELS : 0;
      return ERR_NO_ERROR;
    case AI_CHAN_TYPES:
    case AI_HAS_PACER:
      *value = 1;
      return ERR_NO_ERROR;
    case AI_SCAN_OPTIONS:
      *value = SO_SUPPORTED;
      return ERR_NO_ERROR;
    case AI_NUM_DIFF_RANGES:
    case AI_TRIG_TYPES:
      *value = 0;
      return ERR_NO_ERROR;
    case AI_NUM_SE_RANGES:
      *value = 2;
      return ERR_NO_ERROR;
    case AI_SE_RANGE:
      if (index > 1) return ERR_BAD_ARG;
      *value = index == 0 ? BIP10VOLTS : UNI10VOLTS;
      return ERR_NO_ERROR;
    case AI_FIFO_SIZE:
      *value = 12288;
      return ERR_NO_ERROR;
    default:
      return ERR_CONFIG_NOT_SUPPORTED;
  }
}

UlError ulAIGetInfoDbl(DaqDeviceHandle handle, unsigned int item, unsigned int index,
                       double* value) {
  (void)index;
  if (!device_of(handle)) return ERR_BAD_DEV_HANDLE;
  switch (item) {
    case AI_MIN_SCAN_RATE:
      *value = 0.01;
      return ERR_NO_ERROR;
    case AI_MAX_SCAN_RATE:
    case AI_MAX_THROUGHPUT:
      *value = MAX_THROUGHPUT;
      return ERR_NO_ERROR;
    default:
      return ERR_CONFIG_NOT_SUPPORTED;
  }
}

UlError ulAInScan(DaqDeviceHandle handle, int low_channel, int high_channel, int input_mode,
                  int range, int samples_per_channel, double* rate, int options, int flags,
                  double* data) {
  struct Device* device = device_of(handle);
  if (!device) return ERR_BAD_DEV_HANDLE;
  if (!device->plugged) return ERR_DEAD_DEV;
  if (!device->connected) return ERR_DEV_NOT_CONNECTED;
  if (device->thread_running) {
    pthread_mutex_lock(&lock);
    const int active = device->running;
    pthread_mutex_unlock(&lock);
    if (active) return ERR_ALREADY_ACTIVE;
    stop_scan(device);
  }
  if (low_channel < 0 || high_channel >= CHANNELS || low_channel > high_channel) {
    return ERR_BAD_AI_CHAN;
  }
  if (input_mode != AI_SINGLE_ENDED) return ERR_BAD_INPUT_MODE;
  if (range != BIP10VOLTS && range != UNI10VOLTS) return ERR_BAD_RANGE;
  if (samples_per_channel < 1) return ERR_BAD_SAMPLE_COUNT;
  if (!data) return ERR_BAD_BUFFER;
  const int count = high_channel - low_channel + 1;
  if (!(*rate > 0) || *rate * count > MAX_THROUGHPUT) return ERR_BAD_RATE;
  if (options & ~SO_SUPPORTED) return ERR_BAD_OPTION;

  pthread_mutex_lock(&lock);
  device->buffer = data;
  device->buffer_rows = samples_per_channel;
  device->rows = 0;
  device->low = low_channel;
  device->count = count;
  device->range = range;
  device->flags = flags;
  device->continuous = (options & SO_CONTINUOUS) != 0;
  device->rate = *rate;
  device->error = ERR_NO_ERROR;
  device->overrun_requested = 0;
  device->paused = 0;
  device->running = 1;
  device->stop = 0;
  clock_gettime(CLOCK_MONOTONIC, &device->started);
  device->thread_running = pthread_create(&device->thread, NULL, scan, device) == 0;
  const UlError error = device->thread_running ? ERR_NO_ERROR : ERR_BAD_DEV_TYPE;
  if (error) device->running = 0;
  pthread_mutex_unlock(&lock);
  return error;
}

UlError ulAInScanStatus(DaqDeviceHandle handle, int* status, TransferStatus* transfer) {
  struct Device* device = device_of(handle);
  if (!device) return ERR_BAD_DEV_HANDLE;
  pthread_mutex_lock(&lock);
  *status = device->running ? SS_RUNNING : SS_IDLE;
  transfer->currentScanCount = device->rows;
  transfer->currentTotalCount = device->rows * device->count;
  transfer->currentIndex =
      device->rows ? ((device->rows - 1) % device->buffer_rows) * device->count : -1;
  const UlError error = device->error;
  pthread_mutex_unlock(&lock);
  return error;
}

UlError ulAInScanStop(DaqDeviceHandle handle) {
  struct Device* device = device_of(handle);
  if (!device) return ERR_BAD_DEV_HANDLE;
  stop_scan(device);
  return device->plugged ? ERR_NO_ERROR : ERR_DEAD_DEV;
}

UlError ulGetErrMsg(UlError code, char* message) {
  const char* text;
  switch (code) {
    case ERR_NO_ERROR:
      text = "No error has occurred";
      break;
    case ERR_BAD_DEV_HANDLE:
      text = "Invalid device handle";
      break;
    case ERR_BAD_DEV_TYPE:
      text = "This function cannot be used with this device";
      break;
    case ERR_DEV_NOT_FOUND:
      text = "Device not found";
      break;
    case ERR_DEV_NOT_CONNECTED:
      text = "Device not connected or connection lost";
      break;
    case ERR_DEAD_DEV:
      text = "Device no longer responding";
      break;
    case ERR_OVERRUN:
      text = "FIFO overrun, data was not transferred from device fast enough";
      break;
    case ERR_BAD_RATE:
      text = "Invalid sampling rate specified";
      break;
    case ERR_BAD_RANGE:
      text = "Invalid range";
      break;
    case ERR_BAD_AI_CHAN:
      text = "Invalid analog input channel specified";
      break;
    case ERR_BAD_INPUT_MODE:
      text = "Invalid input mode specified";
      break;
    case ERR_ALREADY_ACTIVE:
      text = "A background process is already in progress";
      break;
    case ERR_BAD_OPTION:
      text = "Invalid option specified";
      break;
    case ERR_BAD_SAMPLE_COUNT:
      text = "Invalid sample count specified";
      break;
    case ERR_BAD_BUFFER:
      text = "Invalid buffer";
      break;
    case ERR_BAD_BUFFER_SIZE:
      text = "Buffer too small for operation";
      break;
    default:
      text = "Unknown error";
  }
  snprintf(message, 1000, "%s", text);
  return ERR_NO_ERROR;
}

// uldaq looks up every function of libuldaq when it is imported. Those this device does not
// need report that they cannot be used with it.
#define UNSUPPORTED(name) \
  UlError name(void) { return ERR_BAD_DEV_TYPE; }

UNSUPPORTED(ulAIGetConfig)
UNSUPPORTED(ulAIGetConfigDbl)
UNSUPPORTED(ulAIGetConfigStr)
UNSUPPORTED(ulAISetConfig)
UNSUPPORTED(ulAISetConfigDbl)
UNSUPPORTED(ulAIn)
UNSUPPORTED(ulAInLoadQueue)
UNSUPPORTED(ulAInScanWait)
UNSUPPORTED(ulAInSetTrigger)
UNSUPPORTED(ulAOGetInfo)
UNSUPPORTED(ulAOGetInfoDbl)
UNSUPPORTED(ulAOut)
UNSUPPORTED(ulAOutArray)
UNSUPPORTED(ulAOutScan)
UNSUPPORTED(ulAOutScanStatus)
UNSUPPORTED(ulAOutScanStop)
UNSUPPORTED(ulAOutScanWait)
UNSUPPORTED(ulAOutSetTrigger)
UNSUPPORTED(ulCClear)
UNSUPPORTED(ulCConfigScan)
UNSUPPORTED(ulCIn)
UNSUPPORTED(ulCInScan)
UNSUPPORTED(ulCInScanStatus)
UNSUPPORTED(ulCInScanStop)
UNSUPPORTED(ulCInScanWait)
UNSUPPORTED(ulCInSetTrigger)
UNSUPPORTED(ulCLoad)
UNSUPPORTED(ulCRead)
UNSUPPORTED(ulCtrGetConfig)
UNSUPPORTED(ulCtrGetInfo)
UNSUPPORTED(ulCtrGetInfoDbl)
UNSUPPORTED(ulCtrSetConfig)
UNSUPPORTED(ulDBitIn)
UNSUPPORTED(ulDBitOut)
UNSUPPORTED(ulDConfigBit)
UNSUPPORTED(ulDConfigPort)
UNSUPPORTED(ulDIOGetConfig)
UNSUPPORTED(ulDIOGetInfo)
UNSUPPORTED(ulDIOGetInfoDbl)
UNSUPPORTED(ulDIOSetConfig)
UNSUPPORTED(ulDIn)
UNSUPPORTED(ulDInArray)
UNSUPPORTED(ulDInScan)
UNSUPPORTED(ulDInScanStatus)
UNSUPPORTED(ulDInScanStop)
UNSUPPORTED(ulDInScanWait)
UNSUPPORTED(ulDInSetTrigger)
UNSUPPORTED(ulDOut)
UNSUPPORTED(ulDOutArray)
UNSUPPORTED(ulDOutScan)
UNSUPPORTED(ulDOutScanStatus)
UNSUPPORTED(ulDOutScanStop)
UNSUPPORTED(ulDOutScanWait)
UNSUPPORTED(ulDOutSetTrigger)
UNSUPPORTED(ulDaqDeviceConnectionCode)
UNSUPPORTED(ulDaqIGetInfo)
UNSUPPORTED(ulDaqIGetInfoDbl)
UNSUPPORTED(ulDaqInScan)
UNSUPPORTED(ulDaqInScanStatus)
UNSUPPORTED(ulDaqInScanStop)
UNSUPPORTED(ulDaqInScanWait)
UNSUPPORTED(ulDaqInSetTrigger)
UNSUPPORTED(ulDaqOGetInfo)
UNSUPPORTED(ulDaqOGetInfoDbl)
UNSUPPORTED(ulDaqOutScan)
UNSUPPORTED(ulDaqOutScanStatus)
UNSUPPORTED(ulDaqOutScanStop)
UNSUPPORTED(ulDaqOutScanWait)
UNSUPPORTED(ulDaqOutSetTrigger)
UNSUPPORTED(ulDevGetConfig)
UNSUPPORTED(ulDevGetConfigStr)
UNSUPPORTED(ulDisableEvent)
UNSUPPORTED(ulEnableEvent)
UNSUPPORTED(ulFlashLed)
UNSUPPORTED(ulGetConfig)
UNSUPPORTED(ulGetInfoStr)
UNSUPPORTED(ulGetNetDaqDeviceDescriptor)
UNSUPPORTED(ulMemGetInfo)
UNSUPPORTED(ulMemRead)
UNSUPPORTED(ulMemWrite)
UNSUPPORTED(ulSetConfig)
UNSUPPORTED(ulTIn)
UNSUPPORTED(ulTInArray)
UNSUPPORTED(ulTmrGetInfo)
UNSUPPORTED(ulTmrGetInfoDbl)
UNSUPPORTED(ulTmrPulseOutStart)
UNSUPPORTED(ulTmrPulseOutStatus)
UNSUPPORTED(ulTmrPulseOutStop)
UNSUPPORTED(ulTmrSetTrigger)
