// Building S3 responses: XML bodies, empty answers, and the error document
// every failure turns into (code, message, resource, request id).

import type { S3Error } from './errors.js';
import type { S3Response } from './http.js';
import { renderXmlDocument } from './xml.js';
import type { XmlNode } from './xml.js';

export function xmlResponse(root: string, children: XmlNode, status = 200): S3Response {
  const body = renderXmlDocument(root, children);
  return { status, headers: { 'content-type': 'application/xml', 'content-length': String(body.length) }, body };
}

export function emptyResponse(status: number, headers: Record<string, string> = {}): S3Response {
  return { status, headers: { 'content-length': '0', ...headers } };
}

export function errorResponse(error: S3Error, resource: string, requestId: string, method: string): S3Response {
  const headers: Record<string, string> = { ...error.headers };
  if (method === 'HEAD' || error.status === 304) {
    return { status: error.status, headers: { ...headers, 'content-length': '0' } };
  }
  const body = renderXmlDocument(
    'Error',
    { Code: error.code, Message: error.message, ...error.fields, Resource: resource, RequestId: requestId, HostId: requestId },
    { namespace: false },
  );
  return {
    status: error.status,
    headers: { ...headers, 'content-type': 'application/xml', 'content-length': String(body.length) },
    body,
  };
}
