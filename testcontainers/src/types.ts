/** What every S3 test target is: an endpoint, a bucket and the credentials for it. */
export interface S3TargetConfig {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}
