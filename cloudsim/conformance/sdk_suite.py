"""Conformance suite: drives eip-cloudsim with the OFFICIAL Alibaba Cloud Python SDK.

Usage: sdk_suite.py URL SCHEME   (SCHEME: v3 | v1 | sts)

  v3   default SDK signing (ACS3-HMAC-SHA256) with the account AccessKey
  v1   Config.signature_algorithm = 'v2' (RPC HMAC-SHA1)
  sts  V3 with STS credentials read from the emulator's metadata service (RAM role)

Expects a fresh emulator with default configuration. Uses the emulator's /_sim/ admin API
(plain urllib) to set up instances, quotas, limits and faults. Prints one line per check
(PASS name / FAIL name: detail) and a final "SUMMARY scheme=.. passed=N failed=M";
exits 0 only when every check passed, 3 when the SDK is not installed.
"""

import json
import sys
import time
import traceback
import urllib.request

try:
    from alibabacloud_ecs20140526 import models as ecs_models
    from alibabacloud_ecs20140526.client import Client as EcsClient
    from alibabacloud_tea_openapi import models as open_api_models
    from alibabacloud_tea_openapi import utils_models as open_api_util_models
    from alibabacloud_tea_openapi.exceptions import (
        ClientException,
        ServerException,
        ThrottlingException,
    )
    from alibabacloud_vpc20160428 import models as vpc_models
    from alibabacloud_vpc20160428.client import Client as VpcClient
    from darabonba.runtime import RuntimeOptions
except ImportError as e:  # pragma: no cover - reported to the Rust driver
    print(f"SDK-MISSING {e}")
    sys.exit(3)

REGION = "cn-hangzhou"
URL = sys.argv[1].rstrip("/")
SCHEME = sys.argv[2]
ENDPOINT = URL.split("://", 1)[-1]

results = []


def check(name, cond, detail=""):
    results.append((name, bool(cond)))
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f": {detail}"), flush=True)
    return cond


def admin(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + "/_sim" + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def metadata(instance, item, token=None, put_ttl=None):
    url = f"{URL}/instances/{instance}/latest/{item}"
    req = urllib.request.Request(url, method="PUT" if put_ttl else "GET")
    if put_ttl:
        req.add_header("X-aliyun-ecs-metadata-token-ttl-seconds", str(put_ttl))
    if token:
        req.add_header("X-aliyun-ecs-metadata-token", token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


def config(access_key_id="testid", secret="testsecret", token=None, v1=False):
    cfg = open_api_models.Config(
        access_key_id=access_key_id,
        access_key_secret=secret,
        region_id=REGION,
        endpoint=ENDPOINT,
        protocol="http",
    )
    if token:
        cfg.security_token = token
    if v1:
        cfg.signature_algorithm = "v2"
    return cfg


def expect_error(name, fn, cls, code, status=None):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - we classify below
        ok = isinstance(e, cls) and getattr(e, "code", None) == code
        if status is not None:
            ok = ok and getattr(e, "status_code", None) == status
        data = getattr(e, "data", None) or {}
        if ok and isinstance(data, dict) and cls in (ClientException, ServerException):
            ok = all(k in data for k in ("RequestId", "HostId", "Code", "Message", "Recommend"))
        return check(
            name,
            ok,
            f"got {type(e).__name__} code={getattr(e, 'code', None)} "
            f"status={getattr(e, 'status_code', None)} data={data}",
        )
    return check(name, False, "no exception raised")


def wait_status(vpc, alloc_id, want, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = vpc.describe_eip_addresses(
            vpc_models.DescribeEipAddressesRequest(region_id=REGION, allocation_id=alloc_id)
        ).body
        items = body.eip_addresses.eip_address
        status = items[0].status if items else None
        if status == want:
            return items[0] if items else True
        time.sleep(0.02)
    return None


def main():
    # --- world: one node with a pod IP on a secondary ENI (what Terway IPAM does)
    inst = admin("POST", "/instances", {"instance_id": "i-sdk1", "instance_type": "ecs.g7.large"})["instance_id"]
    pod = admin("POST", f"/instances/{inst}/pod-ips")
    eni, pod_ip = pod["eni_id"], pod["ip"]

    if SCHEME == "sts":
        token = metadata(inst, "api/token", put_ttl=300)
        role = metadata(inst, "meta-data/ram/security-credentials/", token=token).strip()
        creds = json.loads(metadata(inst, f"meta-data/ram/security-credentials/{role}", token=token))
        check("metadata hands out STS credentials", creds.get("Code") == "Success"
              and creds["AccessKeyId"].startswith("STS.") and creds["Expiration"].endswith("Z"), creds.get("Code"))
        cfg = config(creds["AccessKeyId"], creds["AccessKeySecret"], token=creds["SecurityToken"])
        bad_cfg = config(creds["AccessKeyId"], creds["AccessKeySecret"], token="not-the-token")
    else:
        cfg = config(v1=(SCHEME == "v1"))
        bad_cfg = config(secret="wrongsecret", v1=(SCHEME == "v1"))
    vpc = VpcClient(cfg)
    ecs = EcsClient(cfg)

    # --- allocate, with a ClientToken, a name with a space and a slash, a tag
    req = vpc_models.AllocateEipAddressRequest(
        region_id=REGION, bandwidth="5", internet_charge_type="PayByTraffic",
        client_token=f"tok-{SCHEME}", name="my eip/1",
        tag=[vpc_models.AllocateEipAddressRequestTag(key="k8s", value="a b")],
    )
    a = vpc.allocate_eip_address(req).body
    alloc = a.allocation_id
    check("allocate returns an allocation id and address", alloc.startswith("eip-") and a.eip_address and a.request_id, a.to_map())
    again = vpc.allocate_eip_address(req).body
    check("same ClientToken and parameters give the same EIP", again.allocation_id == alloc and again.eip_address == a.eip_address)
    req2 = vpc_models.AllocateEipAddressRequest(
        region_id=REGION, bandwidth="6", internet_charge_type="PayByTraffic", client_token=f"tok-{SCHEME}")
    expect_error("same ClientToken, other parameters: IdempotentParameterMismatch",
                 lambda: vpc.allocate_eip_address(req2), ClientException, "IdempotentParameterMismatch", 400)

    d = vpc.describe_eip_addresses(vpc_models.DescribeEipAddressesRequest(region_id=REGION, allocation_id=alloc)).body
    item = d.eip_addresses.eip_address[0] if d.eip_addresses.eip_address else None
    check("describe shows the new EIP Available with name and tag",
          d.total_count == 1 and item and item.status == "Available" and item.name == "my eip/1"
          and item.bandwidth == "5" and item.internet_charge_type == "PayByTraffic"
          and [(t.key, t.value) for t in item.tags.tag] == [("k8s", "a b")], d.to_map())

    # --- only queries while in transit
    admin("PUT", "/delays", {"associate_ms": 400, "unassociate_ms": 50, "release_ms": 50})
    vpc.associate_eip_address(vpc_models.AssociateEipAddressRequest(
        region_id=REGION, allocation_id=alloc, instance_id=eni,
        instance_type="NetworkInterface", private_ip_address=pod_ip))
    d = vpc.describe_eip_addresses(vpc_models.DescribeEipAddressesRequest(region_id=REGION, allocation_id=alloc)).body
    check("associate starts Associating", d.eip_addresses.eip_address[0].status == "Associating", d.to_map())
    expect_error("release while Associating: IncorrectEipStatus",
                 lambda: vpc.release_eip_address(vpc_models.ReleaseEipAddressRequest(region_id=REGION, allocation_id=alloc)),
                 ClientException, "IncorrectEipStatus", 400)
    item = wait_status(vpc, alloc, "InUse")
    check("Associating becomes InUse on the ENI's private IP", item and item.instance_id == eni
          and item.private_ip_address == pod_ip and item.instance_type == "NetworkInterface" and item.mode == "NAT",
          item and item.to_map())

    # --- one EIP per private IP; association only to an IP the ENI has
    other = vpc.allocate_eip_address(vpc_models.AllocateEipAddressRequest(region_id=REGION)).body.allocation_id
    expect_error("second EIP on the same private IP: InvalidAssociation.Duplicated",
                 lambda: vpc.associate_eip_address(vpc_models.AssociateEipAddressRequest(
                     region_id=REGION, allocation_id=other, instance_id=eni,
                     instance_type="NetworkInterface", private_ip_address=pod_ip)),
                 ClientException, "InvalidAssociation.Duplicated", 400)
    expect_error("private IP not on the ENI: InvalidParameter.Mismatch",
                 lambda: vpc.associate_eip_address(vpc_models.AssociateEipAddressRequest(
                     region_id=REGION, allocation_id=other, instance_id=eni,
                     instance_type="NetworkInterface", private_ip_address="192.168.9.9")),
                 ClientException, "InvalidParameter.Mismatch", 400)

    # --- ECS side through the ECS SDK
    n = ecs.describe_network_interfaces(ecs_models.DescribeNetworkInterfacesRequest(
        region_id=REGION, network_interface_id=[eni])).body
    sets = n.network_interface_sets.network_interface_set
    pub = None
    if sets:
        for s in sets[0].private_ip_sets.private_ip_set:
            if s.private_ip_address == pod_ip and s.associated_public_ip:
                pub = s.associated_public_ip
    check("DescribeNetworkInterfaces shows the EIP on the private IP",
          len(sets) == 1 and sets[0].instance_id == inst and sets[0].type == "Secondary"
          and pub is not None and pub.allocation_id == alloc and pub.public_ip_address == a.eip_address,
          n.to_map())
    by_ip = ecs.describe_network_interfaces(ecs_models.DescribeNetworkInterfacesRequest(
        region_id=REGION, private_ip_address=[pod_ip], max_results=10)).body
    check("DescribeNetworkInterfaces filters by PrivateIpAddress.N",
          [s.network_interface_id for s in by_ip.network_interface_sets.network_interface_set] == [eni], by_ip.to_map())
    by_inst = ecs.describe_network_interfaces(ecs_models.DescribeNetworkInterfacesRequest(
        region_id=REGION, instance_id=inst)).body
    check("DescribeNetworkInterfaces by InstanceId lists primary and secondary ENIs",
          sorted(s.type for s in by_inst.network_interface_sets.network_interface_set) == ["Primary", "Secondary"],
          by_inst.to_map())
    t = ecs.describe_instance_types(ecs_models.DescribeInstanceTypesRequest(
        instance_types=["ecs.g7.large", "ecs.g7.xlarge"])).body
    quantities = {x.instance_type_id: (x.eni_quantity, x.eni_private_ip_address_quantity)
                  for x in t.instance_types.instance_type}
    check("DescribeInstanceTypes reports ENI limits",
          quantities == {"ecs.g7.large": (3, 10), "ecs.g7.xlarge": (4, 15)}, quantities)
    i = ecs.describe_instances(ecs_models.DescribeInstancesRequest(
        region_id=REGION, instance_ids=json.dumps([inst]))).body
    insts = i.instances.instance
    check("DescribeInstances by InstanceIds JSON array", len(insts) == 1 and insts[0].instance_id == inst
          and insts[0].instance_type == "ecs.g7.large" and insts[0].status == "Running", i.to_map())
    asg = ecs.assign_private_ip_addresses(ecs_models.AssignPrivateIpAddressesRequest(
        region_id=REGION, network_interface_id=eni, secondary_private_ip_address_count=2)).body
    new_ips = asg.assigned_private_ip_addresses_set.private_ip_set.private_ip_address
    mac = next(m.rstrip("/") for m in metadata(inst, "meta-data/network/interfaces/macs/").split()
               if metadata(inst, f"meta-data/network/interfaces/macs/{m.rstrip('/')}/network-interface-id") == eni)
    on_eni = json.loads(metadata(inst, f"meta-data/network/interfaces/macs/{mac}/private-ipv4s"))
    check("AssignPrivateIpAddresses adds IPs the metadata service then lists",
          asg.assigned_private_ip_addresses_set.network_interface_id == eni and len(new_ips) == 2
          and all(ip in on_eni for ip in new_ips), (asg.to_map(), on_eni))
    ecs.unassign_private_ip_addresses(ecs_models.UnassignPrivateIpAddressesRequest(
        region_id=REGION, network_interface_id=eni, private_ip_address=new_ips))
    on_eni = json.loads(metadata(inst, f"meta-data/network/interfaces/macs/{mac}/private-ipv4s"))
    check("UnassignPrivateIpAddresses removes them", not any(ip in on_eni for ip in new_ips), on_eni)
    expect_error("the ENI's primary IP cannot be unassigned: 403 InvalidIp.IpUnassigned",
                 lambda: ecs.unassign_private_ip_addresses(ecs_models.UnassignPrivateIpAddressesRequest(
                     region_id=REGION, network_interface_id=eni, private_ip_address=[pod_ip])),
                 ClientException, "InvalidIp.IpUnassigned", 403)
    v = vpc.describe_vswitches(vpc_models.DescribeVSwitchesRequest(region_id=REGION)).body
    vs = v.v_switches.v_switch
    check("DescribeVSwitches lists two zones with free IP counts",
          sorted(x.zone_id for x in vs) == ["cn-hangzhou-h", "cn-hangzhou-i"]
          and all(0 < x.available_ip_address_count < 252 or x.zone_id == "cn-hangzhou-i" for x in vs), v.to_map())

    # --- modify, tags with paging, bandwidth package
    vpc.modify_eip_address_attribute(vpc_models.ModifyEipAddressAttributeRequest(
        region_id=REGION, allocation_id=alloc, bandwidth="10", description="pod web-0"))
    item = wait_status(vpc, alloc, "InUse")
    check("ModifyEipAddressAttribute changes bandwidth and description",
          item and item.bandwidth == "10" and item.description == "pod web-0", item and item.to_map())
    vpc.tag_resources(vpc_models.TagResourcesRequest(
        region_id=REGION, resource_type="EIP", resource_id=[alloc],
        tag=[vpc_models.TagResourcesRequestTag(key="owner", value="kube-eip"),
             vpc_models.TagResourcesRequestTag(key="pod", value="default/web-0")]))
    seen, token, pages = [], None, 0
    while True:
        r = vpc.list_tag_resources(vpc_models.ListTagResourcesRequest(
            region_id=REGION, resource_type="EIP", resource_id=[alloc], max_results=1, next_token=token)).body
        seen += [(x.resource_id, x.tag_key, x.tag_value) for x in r.tag_resources.tag_resource]
        pages += 1
        token = r.next_token
        if not token or pages > 10:
            break
    check("TagResources then ListTagResources pages through every tag with NextToken",
          sorted(seen) == sorted([(alloc, "k8s", "a b"), (alloc, "owner", "kube-eip"), (alloc, "pod", "default/web-0")])
          and pages == 3, seen)
    f = vpc.describe_eip_addresses(vpc_models.DescribeEipAddressesRequest(
        region_id=REGION, tag=[vpc_models.DescribeEipAddressesRequestTag(key="owner", value="kube-eip")])).body
    check("DescribeEipAddresses filters by tag", [x.allocation_id for x in f.eip_addresses.eip_address] == [alloc], f.to_map())
    vpc.add_common_bandwidth_package_ip(vpc_models.AddCommonBandwidthPackageIpRequest(
        region_id=REGION, bandwidth_package_id="cbwp-bp1sim00000000000000", ip_instance_id=alloc))
    item = wait_status(vpc, alloc, "InUse")
    check("AddCommonBandwidthPackageIp puts the EIP in the package",
          item and item.bandwidth_package_id == "cbwp-bp1sim00000000000000", item and item.to_map())
    vpc.remove_common_bandwidth_package_ip(vpc_models.RemoveCommonBandwidthPackageIpRequest(
        region_id=REGION, bandwidth_package_id="cbwp-bp1sim00000000000000", ip_instance_id=alloc))
    item = wait_status(vpc, alloc, "InUse")
    check("RemoveCommonBandwidthPackageIp takes it out", item and not item.bandwidth_package_id, item and item.to_map())

    # --- unassociate, release, gone
    vpc.unassociate_eip_address(vpc_models.UnassociateEipAddressRequest(
        region_id=REGION, allocation_id=alloc, instance_id=eni, instance_type="NetworkInterface"))
    item = wait_status(vpc, alloc, "Available")
    check("Unassociating becomes Available", item and not item.instance_id, item and item.to_map())
    vpc.release_eip_address(vpc_models.ReleaseEipAddressRequest(region_id=REGION, allocation_id=alloc))
    deadline, gone = time.time() + 5, False
    while time.time() < deadline and not gone:
        d = vpc.describe_eip_addresses(vpc_models.DescribeEipAddressesRequest(region_id=REGION, allocation_id=alloc)).body
        gone = d.total_count == 0 and not d.eip_addresses.eip_address
        time.sleep(0.02)
    check("Releasing ends with the EIP gone from DescribeEipAddresses", gone)

    # --- errors as the SDK sees them
    expect_error("unknown allocation id: 404 InvalidAllocationId.NotFound",
                 lambda: vpc.release_eip_address(vpc_models.ReleaseEipAddressRequest(region_id=REGION, allocation_id=alloc)),
                 ClientException, "InvalidAllocationId.NotFound", 404)
    expect_error("missing AllocationId: MissingAllocationId",
                 lambda: vpc.release_eip_address(vpc_models.ReleaseEipAddressRequest(region_id=REGION)),
                 ClientException, "MissingAllocationId", 400)
    expect_error("PageSize over 100: InvalidParameter",
                 lambda: vpc.describe_eip_addresses(vpc_models.DescribeEipAddressesRequest(region_id=REGION, page_size=101)),
                 ClientException, "InvalidParameter", 400)
    unknown = open_api_util_models.Params(action="NoSuchAction", version="2016-04-28", protocol="HTTP",
                                          pathname="/", method="POST", auth_type="AK", style="RPC",
                                          req_body_type="formData", body_type="json")
    expect_error("unknown action: 404 InvalidApi.NotFound",
                 lambda: vpc.call_api(unknown, open_api_util_models.OpenApiRequest(query={"RegionId": REGION}), RuntimeOptions()),
                 ClientException, "InvalidApi.NotFound", 404)
    admin("PUT", "/quota", {"eip_quota": 1})
    expect_error("over quota: 400 QuotaExceeded.Eip",
                 lambda: vpc.allocate_eip_address(vpc_models.AllocateEipAddressRequest(region_id=REGION)),
                 ClientException, "QuotaExceeded.Eip", 400)
    admin("PUT", "/rate-limits", {"per_action": {"DescribeVSwitches": {"limit": 2, "period_secs": 60}}})
    vpc.describe_vswitches(vpc_models.DescribeVSwitchesRequest(region_id=REGION))
    vpc.describe_vswitches(vpc_models.DescribeVSwitchesRequest(region_id=REGION))
    expect_error("over the API rate limit: 400 Throttling.User",
                 lambda: vpc.describe_vswitches(vpc_models.DescribeVSwitchesRequest(region_id=REGION)),
                 ClientException, "Throttling.User", 400)
    admin("PUT", "/rate-limits", {"retry_after_header": True, "per_action": {"DescribeVSwitches": {"limit": 1, "period_secs": 60}}})
    vpc.describe_vswitches(vpc_models.DescribeVSwitchesRequest(region_id=REGION))
    expect_error("with x-acs-retry-after the SDK raises ThrottlingException",
                 lambda: vpc.describe_vswitches(vpc_models.DescribeVSwitchesRequest(region_id=REGION)),
                 ThrottlingException, "Throttling.User")
    admin("POST", "/faults", {"action": "DescribeEipAddresses", "effect": {"kind": "error", "code": "ServiceUnavailable", "status": 503}, "times": 1})
    expect_error("injected 503: ServerException ServiceUnavailable",
                 lambda: vpc.describe_eip_addresses(vpc_models.DescribeEipAddressesRequest(region_id=REGION)),
                 ServerException, "ServiceUnavailable", 503)
    admin("POST", "/faults", {"action": "DescribeNetworkInterfaces", "effect": {"kind": "error", "code": "InternalError", "status": 500}, "times": 1})
    expect_error("injected 500 on ECS: ServerException InternalError",
                 lambda: ecs.describe_network_interfaces(ecs_models.DescribeNetworkInterfacesRequest(region_id=REGION)),
                 ServerException, "InternalError", 500)
    n = vpc.describe_eip_addresses(vpc_models.DescribeEipAddressesRequest(region_id=REGION)).body
    check("a fault with times=1 fires once", n.request_id != "")

    if SCHEME == "sts":
        expect_error("STS key with the wrong security token is refused",
                     lambda: VpcClient(bad_cfg).describe_eip_addresses(vpc_models.DescribeEipAddressesRequest(region_id=REGION)),
                     ClientException, "InvalidSecurityToken.MismatchWithAccessKey", 400)
    else:
        expect_error("wrong secret: SignatureDoesNotMatch",
                     lambda: VpcClient(bad_cfg).describe_eip_addresses(vpc_models.DescribeEipAddressesRequest(region_id=REGION)),
                     ClientException, "SignatureDoesNotMatch", 400)


try:
    main()
except Exception as e:  # noqa: BLE001 - any unexpected failure is a failed check
    traceback.print_exc()
    check("suite ran to the end", False, f"{type(e).__name__}: {e}")
failed = sum(1 for _, ok in results if not ok)
print(f"SUMMARY scheme={SCHEME} passed={len(results) - failed} failed={failed}", flush=True)
sys.exit(1 if failed else 0)
