// Planned stops, bgp mode, on a lab of their own (why apart: describePlannedStops).
import { describePlannedStops } from '../helpers/lab.js';

describePlannedStops('bgp');
