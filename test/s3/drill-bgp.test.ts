import { describeS3Drill } from '../helpers/s3-drill.js';

describeS3Drill('bgp');
