// Plugs one simulated USB-200 board when the simulated libuldaq is loaded, and puts a
// three-phase 50 Hz signal on its inputs 0-5: linked with tests/meter/usb200_sim.c into the
// libuldaq.so that benchmarks/meter_footprint.py preloads into a meter daemon, which then sees
// a DAQ on its USB as it would on a Raspberry Pi.
#include <math.h>

int sim_plug(const char* product_name, unsigned int product_id, const char* unique_id);
void sim_set_signal(double f, const double* amplitudes, const double* phases,
                    const double* offsets);

__attribute__((constructor)) static void plug_one_board(void) {
  // Sensors map +-2 p.u. of voltage and +-25 x rated current onto 0-10 V: the load current of
  // a feeder head is small on its input, as it is in the paper's laboratory.
  const double amplitudes[8] = {2.5, 2.5, 2.5, 0.08, 0.08, 0.08, 0.0, 0.0};
  const double lag = M_PI / 6;
  const double phases[8] = {0.0, -2 * M_PI / 3, 2 * M_PI / 3, -lag, -2 * M_PI / 3 - lag,
                            2 * M_PI / 3 - lag, 0.0, 0.0};
  const double offsets[8] = {5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 0.0, 0.0};
  sim_plug("USB-201", 0x113, "BENCH001");
  sim_set_signal(50.0, amplitudes, phases, offsets);
}
